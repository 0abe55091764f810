"""Reply deadlines counted in business hours only (reply_tracking.business_hours: true)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.config import config_from_dict
from gateway.core.reply_tracking import ReplyTracker
from gateway.model import Channel
from gateway.routing.engine import RulesRouter
from gateway.routing.rules import parse_rules
from gateway.storage import MemoryStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = """
version: 1
timezone: Asia/Shanghai
business_hours:
  weekly:
    mon: ["09:00-12:00", "13:00-18:00"]
    tue: ["09:00-12:00", "13:00-18:00"]
    wed: ["09:00-12:00", "13:00-18:00"]
    thu: ["09:00-12:00", "13:00-18:00"]
    fri: ["09:00-12:00", "13:00-18:00"]
  holidays: ["2026-10-01", "2026-10-02"]
skills: [payments]
queues:
  general: {}
agents:
  alice: {skills: {payments: 3}, capacity: 5}
defaults:
  targets: [{queue: general, priority: 3}]
rules: []
"""
HOURS = parse_rules(RULES, path="rules.yaml").business_hours


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("start", "seconds", "due"),
    [
        (local(2026, 11, 23, 10, 0), 3600, local(2026, 11, 23, 11, 0)),  # Monday, inside
        (local(2026, 11, 23, 11, 30), 3600, local(2026, 11, 23, 13, 30)),  # across the lunch break
        (local(2026, 11, 23, 17, 50), 1800, local(2026, 11, 24, 9, 20)),  # across the night
        (local(2026, 11, 27, 17, 30), 3600, local(2026, 11, 30, 9, 30)),  # Friday → Monday
        (local(2026, 11, 28, 22, 0), 600, local(2026, 11, 30, 9, 10)),  # Saturday night
        (local(2026, 9, 30, 17, 0), 7200, local(2026, 10, 5, 10, 0)),  # holidays then the weekend
        (local(2026, 11, 23, 7, 0), 0, local(2026, 11, 23, 9, 0)),  # before opening: due at opening
        (datetime(2026, 11, 23, 1, 0, tzinfo=UTC), 3600, local(2026, 11, 23, 10, 0)),  # a UTC instant
    ],
)
def test_business_time_skips_closed_hours(start: datetime, seconds: float, due: datetime) -> None:
    assert HOURS.add_business_time(start, seconds) == due


def test_reply_deadlines_follow_the_desk_when_configured() -> None:
    router = RulesRouter(rules=parse_rules(RULES, path="rules.yaml"))
    config = config_from_dict({"reply_tracking": {"default": "1h", "warn_at": 0.5, "business_hours": True}}, env={})
    tracker = ReplyTracker(store=MemoryStore(), config=config.reply_tracking, calendar=lambda: router.business_hours)
    friday_evening = int(local(2026, 11, 27, 17, 30).timestamp() * 1000)
    reply_by, warn = tracker.deadline(Channel.API, friday_evening)
    assert reply_by == int(local(2026, 11, 30, 9, 30).timestamp() * 1000)
    assert warn == int(local(2026, 11, 27, 18, 0).timestamp() * 1000)
    plain = ReplyTracker(store=MemoryStore(), config=config.reply_tracking.model_copy(update={"business_hours": False}))
    assert plain.deadline(Channel.API, friday_evening)[0] == friday_evening + 3600 * 1000
