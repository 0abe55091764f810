"""Business hours: lunch breaks, holidays, weekends, make-up working days, time zones, boundaries."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.model import Channel, RoutingContext
from gateway.routing.calendar import parse_interval
from gateway.routing.engine import RulesRouter
from gateway.routing.rules import parse_rules
from tests.routing.conftest import BASE_RULES


@pytest.fixture(scope="module")
def hours_router() -> RulesRouter:
    return RulesRouter(rules=parse_rules(BASE_RULES, path="rules.yaml"))


# (at, open?) — BASE_RULES: Asia/Shanghai, Mon–Fri 09:00-12:00 and 13:00-18:00, holidays
# 2026-10-01/02, special day Sat 2026-10-10 09:00-12:00 only.
EDGES = [
    ("2026-03-02T08:59:59+08:00", False),  # Monday, a second before opening
    ("2026-03-02T09:00:00+08:00", True),  # opening: the start is inside
    ("2026-03-02T11:59:59+08:00", True),
    ("2026-03-02T12:00:00+08:00", False),  # lunch: the end is outside
    ("2026-03-02T12:30:00+08:00", False),
    ("2026-03-02T12:59:59+08:00", False),
    ("2026-03-02T13:00:00+08:00", True),  # back from lunch
    ("2026-03-02T17:59:59+08:00", True),
    ("2026-03-02T18:00:00+08:00", False),  # closing
    ("2026-03-06T10:00:00+08:00", True),  # Friday
    ("2026-03-07T10:00:00+08:00", False),  # Saturday: absent = closed
    ("2026-03-08T10:00:00+08:00", False),  # Sunday
    ("2026-10-01T10:00:00+08:00", False),  # a Thursday, but a holiday (quoted in the file)
    ("2026-10-02T10:00:00+08:00", False),  # a Friday holiday written as a bare YAML date
    ("2026-10-10T10:00:00+08:00", True),  # Saturday make-up working day, morning only
    ("2026-10-10T13:30:00+08:00", False),
    # Time zones: the instant is what counts, not the wall clock of the sender.
    ("2026-03-02T02:00:00+00:00", True),  # 10:00 in Shanghai
    ("2026-03-02T10:00:00+00:00", False),  # 18:00 in Shanghai
    ("2026-03-01T23:30:00+00:00", False),  # Sunday night UTC = Monday 07:30 in Shanghai
    ("2026-03-02T01:00:00+00:00", True),  # Monday 01:00 UTC = 09:00 in Shanghai: opening
    ("2026-03-02T04:30:00+00:00", False),  # 12:30 in Shanghai: lunch
    ("2026-03-06T21:00:00-05:00", False),  # Friday evening in New York = Saturday 10:00 in Shanghai
    ("2026-09-30T18:00:00-08:00", False),  # Wednesday in Los Angeles = Thursday 1 October, a holiday
]


@pytest.mark.parametrize(("at", "is_open"), EDGES, ids=[a for a, _ in EDGES])
def test_business_hours_edges(hours_router: RulesRouter, at: str, is_open: bool) -> None:
    instant = datetime.fromisoformat(at)
    assert hours_router.rules.business_hours is not None
    assert hours_router.rules.business_hours.is_open(instant) is is_open
    decision = hours_router.decide(RoutingContext(channel=Channel.SMS, text="hello", at=instant))
    # The after-hours rule is `business_hours: false`: it decides exactly when the desk is closed.
    assert (decision.rule == "after-hours") is (not is_open)


def test_the_cache_per_minute_never_answers_for_another_minute(hours_router: RulesRouter) -> None:
    answers = [
        hours_router.decide(RoutingContext(channel=Channel.SMS, text="hi", at=datetime.fromisoformat(at))).rule
        for at in ("2026-03-02T11:59:59+08:00", "2026-03-02T12:00:00+08:00", "2026-03-02T11:59:30+08:00")
    ]
    assert answers == [None, "after-hours", None]


def test_explanations_name_the_local_time_and_why_the_desk_is_closed(hours_router: RulesRouter) -> None:
    holiday = hours_router.decide(
        RoutingContext(channel=Channel.SMS, text="hi", at=datetime.fromisoformat("2026-10-01T02:00:00+00:00"))
    )
    assert "rule after-hours: matched (business_hours: false (Thu 2026-10-01 10:00 Asia/Shanghai, a holiday))" in (
        holiday.explanation
    )
    weekend = hours_router.decide(
        RoutingContext(channel=Channel.SMS, text="hi", at=datetime.fromisoformat("2026-03-07T10:00:00+08:00"))
    )
    assert "(Sat 2026-03-07 10:00 Asia/Shanghai, closed all day)" in weekend.explanation[4]


def test_a_day_can_run_to_midnight() -> None:
    rules = parse_rules(
        "version: 1\ntimezone: Europe/London\nbusiness_hours:\n  weekly:\n    sun: ['00:00-24:00']\n"
        "queues: {general: {}}\ndefaults: {targets: [{queue: general}]}\n",
        path="r.yaml",
    )
    assert rules.business_hours is not None
    assert rules.business_hours.is_open(datetime.fromisoformat("2026-03-01T23:59:59+00:00"))
    assert not rules.business_hours.is_open(datetime.fromisoformat("2026-03-02T00:00:00+00:00"))
    # Summer time: 00:30 BST on Sunday is still Saturday 23:30 UTC.
    assert rules.business_hours.is_open(datetime.fromisoformat("2026-06-06T23:30:00+00:00"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("9-12", "write it as HH:MM-HH:MM"),
        ("09:00", "write it as HH:MM-HH:MM"),
        ("12:00-09:00", "the end must be after the start"),
        ("22:00-02:00", "split hours past midnight"),
        ("09:00-09:00", "the end must be after the start"),
        ("25:00-26:00", "is not a time of day"),
        ("09:60-10:00", "is not a time of day"),
        ("24:00-24:00", "cannot start at 24:00"),
        ("9:00-12:00:00", "write it as HH:MM-HH:MM"),
    ],
)
def test_bad_intervals_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_interval(text)
