"""Reply deadlines (targets of seconds) on a clock the test moves: warn, breach, once;
answered or pending, never."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.routing.publisher import MemoryPublisher
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, auth, signed_api_body
from tests.timing import ManualClock, scan_and_publish, stop_timer_scanner
from tests.web.fakes import FakeCallback, start_crm

FAST = {"reply_tracking": {"default": "2s", "warn_at": 0.5, "scan_interval": "0.05s"}}
LATER = 86400.0  # far past every deadline of these tests


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def post(client: TestClient, user: str, text: str = "help") -> str:
    body, headers = signed_api_body({"id": f"{user}-{text}", "from": {"id": user}, "text": text})
    return (await (await client.post("/webhooks/api", data=body, headers=headers)).json())["conversation_id"]


def events(publisher: MemoryPublisher, kind: str, cid: str) -> list[dict]:
    out = [json.loads(e.body) for e in publisher.events if e.routing_key == kind]
    return [e for e in out if e["conversation_id"] == cid]


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    return await (await client.get(f"/api/v1/conversations/{cid}", headers=auth())).json()


async def test_warning_then_breach_fire_once_and_re_offer(
    make_client: Callable[..., Awaitable[TestClient]], publisher: MemoryPublisher, clock: ManualClock
) -> None:
    client = await make_client(**FAST, clock=clock)
    cid = await post(client, "late")
    clock.advance(1.1)  # past warn_at (half of 2 s), before the deadline
    await eventually(lambda: events(publisher, "sla.warning", cid))
    warned = await conversation(client, cid)
    assert warned["sla_state"] == "warning"
    assert warned["priority"] == 4 and warned["routing_version"] == 1  # deadline-driven: one step up, same offer
    clock.advance(1.0)
    await eventually(lambda: events(publisher, "sla.breached", cid))
    conv = await conversation(client, cid)
    assert conv["sla_state"] == "breached" and conv["sla_breaches"] == 1
    assert conv["priority"] == 6 and conv["routing_version"] == 2  # the risen 4, plus two
    offers = [json.loads(o.body) for o in publisher.queues["general"]]
    assert [o["reason"] for o in offers] == ["new", "sla_breach"]
    overdue = await (await client.get("/api/v1/reply-tracking?state=overdue", headers=auth())).json()
    assert [c["id"] for c in overdue["conversations"]] == [cid]
    assert overdue["summary"]["breaches"] == 1 and overdue["summary"]["warnings"] == 1
    # Once: a full scan a day later finds nothing more to fire for it.
    await stop_timer_scanner(client.app)
    clock.advance(LATER)
    await scan_and_publish(client.app)
    assert len(events(publisher, "sla.warning", cid)) == 1 and len(events(publisher, "sla.breached", cid)) == 1


async def test_an_answered_conversation_never_warns(
    make_client: Callable[..., Awaitable[TestClient]],
    publisher: MemoryPublisher,
    clock: ManualClock,
    aiohttp_server: Any,
) -> None:
    crm: FakeCallback
    crm, url = await start_crm(aiohttp_server)  # the reply is delivered: a failed one would give the deadline back
    client = await make_client(**FAST, clock=clock, channels={"api": {"secret": API_SECRET, "callback_url": url}})
    cid = await post(client, "quick")
    unanswered = await post(client, "ignored")  # the control: due at the same instants
    resp = await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "马上处理"}, headers=auth(ALICE_TOKEN)
    )
    assert resp.status == 202
    soon = await (await client.get("/api/v1/reply-tracking?state=due_soon", headers=auth())).json()
    assert [c["id"] for c in soon["conversations"]] == [unanswered]
    await eventually(lambda: crm.received)
    await eventually(lambda: _sent(client, cid))
    await stop_timer_scanner(client.app)
    clock.advance(LATER)
    await scan_and_publish(client.app)
    assert len(events(publisher, "sla.breached", unanswered)) == 1  # the scan did reach past the deadlines
    assert events(publisher, "sla.warning", cid) == [] and events(publisher, "sla.breached", cid) == []
    summary = (await (await client.get("/api/v1/reply-tracking", headers=auth())).json())["summary"]
    assert summary["sla_attainment"] == 1.0 and summary["first_response_seconds_avg"] is not None


async def _sent(client: TestClient, cid: str) -> bool:
    messages = (await conversation(client, cid))["messages"]
    return any(m["direction"] == "outbound" and m["status"] == "sent" for m in messages)


async def test_pending_pauses_the_clock(
    make_client: Callable[..., Awaitable[TestClient]], publisher: MemoryPublisher, clock: ManualClock
) -> None:
    client = await make_client(**FAST, clock=clock)
    cid = await post(client, "waiting")
    unanswered = await post(client, "ignored")
    assert (await client.post(f"/api/v1/conversations/{cid}/pending", headers=auth(ALICE_TOKEN))).status == 200
    await stop_timer_scanner(client.app)
    clock.advance(LATER)
    await scan_and_publish(client.app)
    assert len(events(publisher, "sla.breached", unanswered)) == 1
    assert events(publisher, "sla.warning", cid) == [] and events(publisher, "sla.breached", cid) == []
    await post(client, "waiting", "any news?")  # the customer writes: the 2 s left run again
    clock.advance(1.9)
    await scan_and_publish(client.app)
    assert events(publisher, "sla.breached", cid) == []
    clock.advance(0.2)
    await scan_and_publish(client.app)
    assert len(events(publisher, "sla.breached", cid)) == 1


async def test_reply_tracking_lists_due_soon_and_validates_state(
    make_client: Callable[..., Awaitable[TestClient]],
) -> None:
    client = await make_client(reply_tracking={"default": "30m"})
    cid = await post(client, "soon")
    due = await (await client.get("/api/v1/reply-tracking?state=due_soon", headers=auth())).json()
    assert [c["id"] for c in due["conversations"]] == [cid]
    assert (await client.get("/api/v1/reply-tracking?state=later", headers=auth())).status == 400
    assert (await client.get("/api/v1/reply-tracking", headers=auth(ALICE_TOKEN))).status == 403


async def test_a_configured_escalations_queue_takes_the_breach(
    make_client: Callable[..., Awaitable[TestClient]], publisher: MemoryPublisher, clock: ManualClock, tmp_path
) -> None:
    from tests.routing.conftest import BASE_RULES

    rules = tmp_path / "routing.yaml"
    rules.write_text(BASE_RULES.replace("  general: {}", "  general: {}\n  escalations: {}"), encoding="utf-8")
    fast = {**FAST["reply_tracking"], "escalation_queue": "escalations"}
    client = await make_client(reply_tracking=fast, routing={"rules": str(rules)}, clock=clock)
    cid = await post(client, "escalated")
    clock.advance(2.1)
    await eventually(lambda: publisher.queues.get("escalations"))
    [offer] = [json.loads(o.body) for o in publisher.queues["escalations"]]
    assert offer["conversation_id"] == cid and offer["reason"] == "sla_breach"
    conv = await (await client.get(f"/api/v1/conversations/{cid}", headers=auth())).json()
    assert conv["queue"] == "escalations" and conv["sla_state"] == "breached"
