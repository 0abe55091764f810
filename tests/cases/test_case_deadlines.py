"""Case deadlines on the timer scanner (both stores), with a clock the test moves: due-soon
at 80 %, overdue at the deadline with the conversation offered again at raised priority,
a progress note ending the first-update deadline, an extension replacing the deadline
(the old timers fire nothing), and deadlines counted in business hours."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.cases.support import DAY, WORKFLOW, Clock, call, case_of, kinds, open_case, say, settle, write_workflow
from tests.helpers import OPS_TOKEN, gateway_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS_RULES = """\
version: 1
timezone: Asia/Shanghai
business_hours:
  weekly:
    mon: &day ["09:00-18:00"]
    tue: *day
    wed: *day
    thu: *day
    fri: *day
queues:
  general: {}
defaults:
  targets: [{queue: general}]
rules: []
"""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
async def client(
    aiohttp_client: Any, store: Store, clock: Clock, publisher: MemoryPublisher, tmp_path: Path
) -> TestClient:
    config = gateway_config(reply_tracking={"scan_interval": "1h"}, cases={"file": str(write_workflow(tmp_path))})
    return await aiohttp_client(build_app(config, store=store, publisher=publisher, clock=clock))


def case_events(publisher: MemoryPublisher, kind: str, number: str) -> list[dict[str, Any]]:
    bodies = [json.loads(m.body) for m in publisher.events if m.routing_key == kind]
    return [b for b in bodies if b["number"] == number]


async def flushed(client: TestClient) -> None:
    """Due timers run, and what they wrote reaches the (memory) broker."""
    await settle(client)
    relay = client.app[SERVICES].relay
    await relay.drain(timeout=5)


async def test_due_soon_overdue_and_an_extension_that_moves_the_deadline(
    client: TestClient, clock: Clock, publisher: MemoryPublisher
) -> None:
    cid = (await say(client, "dl", "重复扣款"))["conversation_id"]
    number = (await open_case(client, cid, token=OPS_TOKEN))["number"]

    clock.advance(1.7 * DAY)  # 85 % of the 2-day first update
    await flushed(client)
    [soon] = case_events(publisher, "case.due_soon", number)
    assert soon["deadline"] == "first_update" and soon["conversation_id"] == cid

    await call(client, "POST", f"/api/v1/cases/{number}/progress", OPS_TOKEN, json={"note": "处理中"})
    clock.advance(0.5 * DAY)  # past the first-update deadline, but the customer heard in time
    await flushed(client)
    assert case_events(publisher, "case.overdue", number) == []

    clock.advance(10 * DAY)  # 12.2 days: past 80 % of 15
    await flushed(client)
    assert [e["deadline"] for e in case_events(publisher, "case.due_soon", number)] == ["first_update", "resolve"]
    until = (datetime.fromtimestamp(clock(), SHANGHAI) + timedelta(days=10)).date()
    status, body = await call(
        client,
        "POST",
        f"/api/v1/cases/{number}/extend",
        OPS_TOKEN,
        json={"until": until.isoformat(), "reason": "等待银行"},
    )
    assert status == 200, body
    clock.advance(3 * DAY)  # past the first deadline (15 days): it was moved, nothing fires
    await flushed(client)
    assert case_events(publisher, "case.overdue", number) == []
    assert (await call(client, "GET", "/api/v1/cases?overdue=true", OPS_TOKEN))[1]["cases"] == []

    clock.advance(8 * DAY)  # past the extended deadline
    await flushed(client)
    [overdue] = case_events(publisher, "case.overdue", number)
    assert overdue["deadline"] == "resolve" and overdue["due_at"] == body["due_at"]
    reoffered = [json.loads(m.body) for m in publisher.queues["general"]]
    assert [o["priority"] for o in reoffered if o["reason"] == "case_overdue"] == [8]  # the category's 6, + 2
    await flushed(client)
    assert len(case_events(publisher, "case.overdue", number)) == 1
    case = await case_of(client, number, OPS_TOKEN)
    assert case["deadlines"]["overdue"] is True and kinds(case).count("overdue") == 1
    listed = (await call(client, "GET", "/api/v1/cases?overdue=true", OPS_TOKEN))[1]["cases"]
    assert [c["number"] for c in listed] == [number]


async def test_deadlines_in_business_hours(aiohttp_client: Any, store: Store, clock: Clock, tmp_path: Path) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(HOURS_RULES, encoding="utf-8")
    workflow = WORKFLOW.replace(
        "    queue: general\n    priority: 6\n", "    queue: general\n    priority: 6\n    business_hours: true\n"
    ).replace("first_update_within: 2d\n    resolve_within: 15d", "first_update_within: 2h\n    resolve_within: 9h")
    config = gateway_config(routing={"rules": str(rules)}, cases={"file": str(write_workflow(tmp_path, workflow))})
    client = await aiohttp_client(build_app(config, store=store, clock=clock))
    wednesday_five_pm = datetime(2026, 3, 4, 17, 0, tzinfo=SHANGHAI).timestamp()
    clock.offset = wednesday_five_pm - time.time()
    cid = (await say(client, "bh", "扣款"))["conversation_id"]
    opened = await open_case(client, cid, token=OPS_TOKEN)
    due = datetime.fromisoformat(opened["due_at"].replace("Z", "+00:00"))
    first = datetime.fromisoformat(opened["deadlines"]["first_update_due_at"].replace("Z", "+00:00"))
    # 9 business hours from Wed 17:00: one hour on Wednesday, eight on Thursday.
    assert abs(due - datetime(2026, 3, 5, 17, 0, tzinfo=SHANGHAI)) < timedelta(seconds=5)
    assert abs(first - datetime(2026, 3, 5, 10, 0, tzinfo=SHANGHAI)) < timedelta(seconds=5)
    assert due.tzinfo is not None and due.astimezone(UTC).hour == 9
