"""Agents at work over HTTP: claim, next, reply and its delivery, notes, transfer, resolve."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.model import Channel
from gateway.wiring.services import SERVICES
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, BOB_TOKEN, TOKENS, auth, signed_api_body
from tests.web.fakes import FakeCallback, FakeEmail, FakeWhatsApp, start_crm


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


@pytest.fixture
async def agent_client(make_client: Callable[..., Awaitable[TestClient]], crm: tuple[FakeCallback, str]) -> TestClient:
    return await make_client(channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}})


async def new_conversation(client: TestClient, user: str = "u1", text: str = "付款失败") -> dict[str, Any]:
    body, headers = signed_api_body({"id": f"m-{user}-{text}", "from": {"id": user}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200
    return await resp.json()


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    return await (await client.get(f"/api/v1/conversations/{cid}", headers=auth())).json()


async def test_claim_names_the_version_and_refuses_stale_or_taken(agent_client: TestClient) -> None:
    cid = (await new_conversation(agent_client))["conversation_id"]
    url = f"/api/v1/conversations/{cid}/claim"
    stale = await agent_client.post(url, json={"routing_version": 9}, headers=auth(ALICE_TOKEN))
    assert stale.status == 409 and (await stale.json())["error"]["code"] == "stale"
    ok = await agent_client.post(url, json={"routing_version": 1}, headers=auth(ALICE_TOKEN))
    assert ok.status == 200 and (await ok.json())["assignee"] == "alice"
    again = await agent_client.post(url, json={"routing_version": 1}, headers=auth(ALICE_TOKEN))
    assert again.status == 200  # idempotent for the holder
    taken = await agent_client.post(url, json={"routing_version": 1}, headers=auth(BOB_TOKEN))
    assert taken.status == 409 and (await taken.json())["error"]["code"] == "taken"
    assert (await agent_client.post(url, json={}, headers=auth())).status == 403  # ops do not claim
    missing = await agent_client.post("/api/v1/conversations/cv_nope/claim", json={}, headers=auth(BOB_TOKEN))
    assert missing.status == 404
    bad = await agent_client.post(url, data=b"{not json", headers=auth(BOB_TOKEN))
    assert bad.status == 400
    assert (await agent_client.post(url, json={"routing_version": "x"}, headers=auth(BOB_TOKEN))).status == 422


async def test_next_claims_the_oldest_waiting_then_204(agent_client: TestClient) -> None:
    first = (await new_conversation(agent_client, "u1"))["conversation_id"]
    second = (await new_conversation(agent_client, "u2"))["conversation_id"]
    got = [await agent_client.post("/api/v1/agents/me/next", headers=auth(ALICE_TOKEN)) for _ in range(3)]
    assert [r.status for r in got] == [200, 200, 204]
    assert [(await r.json())["id"] for r in got[:2]] == [first, second]


async def test_a_reply_is_accepted_202_then_delivered_signed_to_the_callback(
    agent_client: TestClient, crm: tuple[FakeCallback, str]
) -> None:
    fake, _ = crm
    cid = (await new_conversation(agent_client))["conversation_id"]
    resp = await agent_client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "您好，退款已处理"}, headers=auth(ALICE_TOKEN)
    )
    assert resp.status == 202
    message = await resp.json()
    assert message["status"] == "queued" and message["direction"] == "outbound"
    await eventually(lambda: fake.received)
    headers, body = fake.received[0]
    expected = "sha256=" + hmac.new(API_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Gateway-Signature"] == expected
    sent = json.loads(body)
    assert sent["text"] == "您好，退款已处理" and sent["to"] == {"id": "u1"} and sent["conversation_id"] == cid

    async def status() -> str:
        conv = await conversation(agent_client, cid)
        return next(m for m in conv["messages"] if m["id"] == message["id"])["status"]

    await eventually(lambda: _eq(status(), "sent"))
    conv = await conversation(agent_client, cid)
    assert conv["assignee"] == "alice" and conv["reply_tracking"]["state"] == "none"
    assert conv["first_response_seconds"] is not None


async def _eq(awaitable: Awaitable[Any], value: Any) -> bool:
    return (await awaitable) == value


async def test_a_failing_callback_is_retried_with_backoff(
    agent_client: TestClient, crm: tuple[FakeCallback, str]
) -> None:
    fake, _ = crm
    fake.statuses = [503]
    cid = (await new_conversation(agent_client))["conversation_id"]
    await agent_client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth(ALICE_TOKEN))
    await eventually(lambda: len(fake.received) >= 2, timeout=30)
    conv = await conversation(agent_client, cid)
    await eventually(lambda: _eq(_last_status(agent_client, cid), "sent"))
    assert conv["messages"][-1]["attempts"] >= 1


async def _last_status(client: TestClient, cid: str) -> str:
    return (await conversation(client, cid))["messages"][-1]["status"]


async def test_a_rejected_reply_ends_failed_with_the_reason(
    agent_client: TestClient, crm: tuple[FakeCallback, str]
) -> None:
    fake, _ = crm
    fake.statuses = [400]
    cid = (await new_conversation(agent_client))["conversation_id"]
    await agent_client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth(ALICE_TOKEN))
    await eventually(lambda: _eq(_last_status(agent_client, cid), "failed"))
    message = (await conversation(agent_client, cid))["messages"][-1]
    assert message["error"].startswith("HTTP 400") and len(fake.received) == 1


async def test_a_reply_the_provider_refuses_gives_the_customer_their_deadline_back(
    agent_client: TestClient, crm: tuple[FakeCallback, str]
) -> None:
    fake, _ = crm
    fake.statuses = [400]
    cid = (await new_conversation(agent_client))["conversation_id"]
    armed = (await conversation(agent_client, cid))["reply_tracking"]
    await agent_client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth(ALICE_TOKEN))
    await eventually(lambda: _eq(_last_status(agent_client, cid), "failed"))
    tracking = (await conversation(agent_client, cid))["reply_tracking"]
    assert tracking["state"] == "active" and tracking["reply_by"] == armed["reply_by"]
    summary = (await (await agent_client.get("/api/v1/reply-tracking", headers=auth())).json())["summary"]
    assert summary["replies"] == 0 and summary["sla_attainment"] is None


async def test_two_agents_replying_at_once_to_an_unassigned_conversation_one_wins(agent_client: TestClient) -> None:
    for round_ in range(10):
        cid = (await new_conversation(agent_client, user=f"race-{round_}"))["conversation_id"]
        url = f"/api/v1/conversations/{cid}/messages"
        answers = await asyncio.gather(
            agent_client.post(url, json={"text": "我来处理"}, headers=auth(ALICE_TOKEN)),
            agent_client.post(url, json={"text": "I'll take it"}, headers=auth(BOB_TOKEN)),
        )
        assert sorted(a.status for a in answers) == [202, 403]
        [lost] = [a for a in answers if a.status == 403]
        assert (await lost.json())["error"]["code"] == "not_assignee"
        conv = await conversation(agent_client, cid)
        assert len([m for m in conv["messages"] if m["direction"] == "outbound"]) == 1


async def test_a_reply_does_not_claim_beyond_the_agents_capacity(
    make_client: Callable[..., Awaitable[TestClient]], crm: tuple[FakeCallback, str]
) -> None:
    client = await make_client(
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}}, routing={"rules": "config/routing.yaml"}
    )
    statuses = []
    for n in range(4):  # alice's capacity in config/routing.yaml is 3
        cid = (await new_conversation(client, user=f"cap-{n}"))["conversation_id"]
        resp = await client.post(
            f"/api/v1/conversations/{cid}/messages", json={"text": "您好"}, headers=auth(ALICE_TOKEN)
        )
        statuses.append(resp.status)
        if resp.status == 409:
            assert (await resp.json())["error"]["code"] == "capacity"
    assert statuses == [202, 202, 202, 409]
    me = await (await client.get("/api/v1/agents/me", headers=auth(ALICE_TOKEN))).json()
    assert (me["active"], me["capacity"]) == (3, 3)


async def test_without_a_callback_url_replies_are_501(client: TestClient) -> None:
    cid = (await new_conversation(client))["conversation_id"]
    resp = await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth(ALICE_TOKEN))
    assert resp.status == 501 and (await resp.json())["error"]["code"] == "channel_cannot_send"
    assert len((await conversation(client, cid))["messages"]) == 1  # nothing stored


async def test_notes_are_stored_never_sent_and_ops_may_only_note(
    agent_client: TestClient, crm: tuple[FakeCallback, str]
) -> None:
    fake, _ = crm
    cid = (await new_conversation(agent_client))["conversation_id"]
    note = await agent_client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "VIP, handle gently", "note": True}, headers=auth()
    )
    assert note.status == 202 and (await note.json())["direction"] == "note"
    ops_reply = await agent_client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth())
    assert ops_reply.status == 403
    conv = await conversation(agent_client, cid)
    assert [m["direction"] for m in conv["messages"]] == ["inbound", "note"]
    assert conv["reply_tracking"]["state"] == "active" and conv["assignee"] is None
    assert fake.received == []


async def test_only_the_assignee_works_on_a_claimed_conversation(agent_client: TestClient) -> None:
    cid = (await new_conversation(agent_client))["conversation_id"]
    await agent_client.post(f"/api/v1/conversations/{cid}/claim", json={}, headers=auth(ALICE_TOKEN))
    for path, body in (("messages", {"text": "mine"}), ("resolve", {}), ("transfer", {"queue": "general"})):
        resp = await agent_client.post(f"/api/v1/conversations/{cid}/{path}", json=body, headers=auth(BOB_TOKEN))
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "not_assignee", path


async def test_reply_validation(agent_client: TestClient) -> None:
    cid = (await new_conversation(agent_client))["conversation_id"]
    url = f"/api/v1/conversations/{cid}/messages"
    for body in ({}, {"text": "   "}, {"text": "x", "unknown": 1}, {"text": "x" * 20_001}):
        resp = await agent_client.post(url, json=body, headers=auth(ALICE_TOKEN))
        assert resp.status == 422, body
    assert (
        await agent_client.post("/api/v1/conversations/cv_x/messages", json={"text": "x"}, headers=auth(ALICE_TOKEN))
    ).status == 404


async def test_after_the_window_free_text_is_409_and_a_template_goes_out(agent_client: TestClient) -> None:
    services = agent_client.app[SERVICES]
    adapter = FakeWhatsApp()
    services.adapters.append(adapter)
    from tests.helpers import inbound

    old = await services.ingest.accept(
        inbound(channel=Channel.WHATSAPP, sender=("phone", "+8613800138000"), provider_ts="2020-01-01T00:00:00Z")
    )
    url = f"/api/v1/conversations/{old.conversation_id}/messages"
    closed = await agent_client.post(url, json={"text": "sorry for the delay"}, headers=auth(ALICE_TOKEN))
    assert closed.status == 409 and (await closed.json())["error"]["code"] == "window_closed"
    template = {"name": "support_followup", "language": "zh_CN", "params": ["王先生"]}
    resp = await agent_client.post(url, json={"template": template}, headers=auth(ALICE_TOKEN))
    assert resp.status == 202
    await eventually(lambda: adapter.sent)
    assert adapter.sent[0].message.template == template
    assert adapter.sent[0].recipient.key == "phone:+8613800138000"


async def test_resolve_then_the_next_message_reopens(agent_client: TestClient, publisher) -> None:  # type: ignore[no-untyped-def]
    cid = (await new_conversation(agent_client))["conversation_id"]
    await agent_client.post(f"/api/v1/conversations/{cid}/claim", json={}, headers=auth(ALICE_TOKEN))
    resolved = await agent_client.post(f"/api/v1/conversations/{cid}/resolve", headers=auth(ALICE_TOKEN))
    assert resolved.status == 200 and (await resolved.json())["status"] == "resolved"
    await eventually(lambda: any(e.routing_key == "conversation.resolved" for e in publisher.events))
    again = await new_conversation(agent_client, "u1", "还是没到账")
    assert again["conversation_id"] == cid
    conv = await conversation(agent_client, cid)
    assert conv["status"] == "open" and conv["routing_version"] == 2
    offers = await eventually(lambda: len(publisher.queues["general"]) == 2 and publisher.queues["general"])
    assert json.loads(offers[1].body)["reason"] == "reopened"


async def test_pending_then_customer_reply_reopens_the_clock(agent_client: TestClient) -> None:
    cid = (await new_conversation(agent_client))["conversation_id"]
    resp = await agent_client.post(f"/api/v1/conversations/{cid}/pending", headers=auth(ALICE_TOKEN))
    assert resp.status == 200 and (await resp.json())["status"] == "pending"
    assert (await resp.json())["reply_tracking"]["reply_by"] is None
    await new_conversation(agent_client, "u1", "补充信息")
    conv = await conversation(agent_client, cid)
    assert conv["status"] == "open" and conv["reply_tracking"]["reply_by"]


async def test_transfer_reroutes_with_a_new_version(agent_client: TestClient) -> None:
    cid = (await new_conversation(agent_client))["conversation_id"]
    bad = await agent_client.post(f"/api/v1/conversations/{cid}/transfer", json={"queue": "nowhere"}, headers=auth())
    assert bad.status == 422 and (await bad.json())["error"]["code"] == "unknown_queue"
    ok = await agent_client.post(
        f"/api/v1/conversations/{cid}/transfer", json={"queue": "general", "priority": 7}, headers=auth()
    )
    body = await ok.json()
    assert ok.status == 200 and body["routing_version"] == 2 and body["priority"] == 7


async def test_queues_show_depth_oldest_wait_and_agents(agent_client: TestClient) -> None:
    await new_conversation(agent_client, "u1")
    await new_conversation(agent_client, "u2")
    assert (await agent_client.get("/api/v1/queues", headers=auth(ALICE_TOKEN))).status == 403
    data = await (await agent_client.get("/api/v1/queues", headers=auth())).json()
    [general] = data["queues"]
    assert general["name"] == "general" and general["depth"] == 2
    assert general["oldest_wait_seconds"] >= 0 and general["agents"] == ["alice", "bob"]


async def test_merge_contacts_over_the_api(agent_client: TestClient) -> None:
    a = await new_conversation(agent_client, "a")
    b = await new_conversation(agent_client, "b")
    ca = (await conversation(agent_client, a["conversation_id"]))["contact_id"]
    cb = (await conversation(agent_client, b["conversation_id"]))["contact_id"]
    resp = await agent_client.post(f"/api/v1/contacts/{ca}/merge", json={"other": cb}, headers=auth(ALICE_TOKEN))
    assert resp.status == 200
    assert {i["value"] for i in (await resp.json())["identities"]} == {"a", "b"}
    again = await agent_client.post(f"/api/v1/contacts/{ca}/merge", json={"other": cb}, headers=auth(ALICE_TOKEN))
    assert again.status == 409
    missing = await agent_client.post(f"/api/v1/contacts/{ca}/merge", json={"other": "ct_x"}, headers=auth())
    assert missing.status == 404


async def test_a_reply_never_goes_to_a_machine_that_wrote_into_the_thread(agent_client: TestClient) -> None:
    from tests.helpers import inbound

    services = agent_client.app[SERVICES]
    adapter = FakeEmail()
    services.adapters.append(adapter)
    customer = await services.ingest.accept(
        inbound(channel=Channel.EMAIL, sender=("email", "li@example.com"), own_thread_ids=["<q1@example.com>"])
    )
    await services.ingest.accept(
        inbound(
            channel=Channel.EMAIL,
            sender=("email", "mailer-daemon@example.com"),
            thread_refs=["<q1@example.com>"],
            route=False,
            flags=["loop-guard", "report"],
        )
    )
    url = f"/api/v1/conversations/{customer.conversation_id}/messages"
    assert (await agent_client.post(url, json={"text": "您好"}, headers=auth(ALICE_TOKEN))).status == 202
    await eventually(lambda: adapter.sent)
    assert adapter.sent[0].recipient.key == "email:li@example.com"


async def test_claiming_or_replying_needs_the_skills_of_the_conversations_queue(
    make_client: Callable[..., Awaitable[TestClient]], crm: tuple[FakeCallback, str], tmp_path: Any
) -> None:
    from tests.routing.conftest import BASE_RULES

    rules = tmp_path / "routing.yaml"
    rules.write_text(BASE_RULES, encoding="utf-8")
    # Every agent reads everything here: the skills rule of acting is what is tested (with
    # the default read scope, a queue alice cannot serve is out of it: 404, test_action_scope).
    client = await make_client(
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        routing={"rules": str(rules)},
        auth={"tokens": TOKENS, "agent_read_scope": "all"},
    )
    cid = (await new_conversation(client, user="stolen", text="my card was stolen"))["conversation_id"]
    assert (await conversation(client, cid))["queue"] == "disputes"  # alice has no disputes skill
    claim = await client.post(f"/api/v1/conversations/{cid}/claim", json={}, headers=auth(ALICE_TOKEN))
    assert claim.status == 403 and (await claim.json())["error"]["code"] == "not_qualified"
    reply = await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth(ALICE_TOKEN))
    assert reply.status == 403 and (await reply.json())["error"]["code"] == "not_qualified"
    note = await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "for bob", "note": True}, headers=auth(ALICE_TOKEN)
    )
    assert note.status == 202  # a note claims nothing
    assert (await client.post(f"/api/v1/conversations/{cid}/claim", json={}, headers=auth(BOB_TOKEN))).status == 200


async def test_transfer_resolve_and_pending_need_the_skills_of_the_conversations_queue_too(
    make_client: Callable[..., Awaitable[TestClient]], crm: tuple[FakeCallback, str], tmp_path: Any
) -> None:
    from tests.routing.conftest import BASE_RULES

    rules = tmp_path / "routing.yaml"
    rules.write_text(BASE_RULES, encoding="utf-8")
    # Every agent reads everything here: the skills rule of acting is what is tested (with
    # the default read scope, a queue alice cannot serve is out of it: 404, test_action_scope).
    client = await make_client(
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        routing={"rules": str(rules)},
        auth={"tokens": TOKENS, "agent_read_scope": "all"},
    )
    cid = (await new_conversation(client, user="stolen", text="my card was stolen"))["conversation_id"]
    before = await conversation(client, cid)
    assert before["queue"] == "disputes"  # alice has no disputes skill
    # The bypass: alice moves it to a queue she serves, then claims it. Refused at the first step.
    for action, body in (("transfer", {"queue": "payments-zh"}), ("resolve", {}), ("pending", {})):
        resp = await client.post(f"/api/v1/conversations/{cid}/{action}", json=body, headers=auth(ALICE_TOKEN))
        assert resp.status == 403, action
        assert (await resp.json())["error"]["code"] == "not_qualified"
    after = await conversation(client, cid)
    assert (after["queue"], after["status"], after["routing_version"]) == (
        "disputes",
        before["status"],
        before["routing_version"],
    )
    claim = await client.post(f"/api/v1/conversations/{cid}/claim", json={}, headers=auth(ALICE_TOKEN))
    assert claim.status == 403
    # bob serves disputes: he may set it pending unassigned; ops may transfer anything.
    assert (await client.post(f"/api/v1/conversations/{cid}/pending", json={}, headers=auth(BOB_TOKEN))).status == 200
    moved = await client.post(f"/api/v1/conversations/{cid}/transfer", json={"queue": "payments-zh"}, headers=auth())
    assert moved.status == 200 and (await moved.json())["queue"] == "payments-zh"
    # Now in alice's queue: she may claim it, and once hers, transfer it anywhere.
    assert (await client.post(f"/api/v1/conversations/{cid}/claim", json={}, headers=auth(ALICE_TOKEN))).status == 200
    back = await client.post(
        f"/api/v1/conversations/{cid}/transfer", json={"queue": "disputes"}, headers=auth(ALICE_TOKEN)
    )
    assert back.status == 200 and (await back.json())["queue"] == "disputes"
