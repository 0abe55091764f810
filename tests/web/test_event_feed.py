"""Live events for the console: ``/api/v1/events/ws`` fed from ``gateway.events``, over the
in-process broker and over a real RabbitMQ."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.model import Conversation
from gateway.routing.publisher import MemoryPublisher, Outgoing
from gateway.storage import MemoryStore
from gateway.web import console_ws
from gateway.web.auth import Principal
from gateway.web.console_feed import FEED, AmqpEventSource, EventFeed, FeedEvent, MemoryEventSource
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, BOB_TOKEN, OPS_TOKEN, gateway_config, signed_api_body
from tests.web.test_console_api import RULES

WS = "/api/v1/events/ws"
WAIT = 30.0  # generous: a frame that comes, comes at once


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def feed_client(request: pytest.FixtureRequest, aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[TestClient]:
    """A gateway whose events go through the in-process broker, or through RabbitMQ."""
    rules = tmp_path / "routing.yaml"
    rules.write_text(RULES, encoding="utf-8")
    if request.param == "memory":
        config = gateway_config(routing={"rules": str(rules)})
        app = build_app(config, store=MemoryStore(), publisher=MemoryPublisher())
    else:
        amqp_url = request.getfixturevalue("amqp_url")
        config = gateway_config(routing={"rules": str(rules)}, broker={"url": amqp_url})
        app = build_app(config, store=MemoryStore())
    client = await aiohttp_client(app)
    if request.param == "rabbitmq":
        assert not app[FEED].ready()  # nobody is watching yet: nothing is subscribed
        assert isinstance(app[FEED].source, AmqpEventSource)
    yield client


async def customer_writes(client: TestClient, external_id: str, text: str, user: str) -> str:
    body, headers = signed_api_body({"id": external_id, "from": {"id": user}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200
    return str((await resp.json())["conversation_id"])


async def signed_in(client: TestClient, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "auth", "token": token})
    ready = await ws.receive_json(timeout=WAIT)
    assert ready["type"] == "ready"
    if not ready["live"]:
        # The first console makes the feed subscribe; once bound, consoles are told to reload.
        await eventually(lambda: client.app[FEED].ready(), timeout=WAIT)
        # ... and that it is live now (the console's badge follows this).
        assert await ws.receive_json(timeout=WAIT) == {"type": "resync", "live": True}
    return ws


async def events_until(
    ws: aiohttp.ClientWebSocketResponse, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await ws.receive_json(timeout=WAIT)
        frames.append(frame)
        if done(frame):
            return frames


async def test_an_event_after_a_webhook_reaches_the_connected_console(feed_client: TestClient) -> None:
    ws = await signed_in(feed_client, OPS_TOKEN)
    cid = await customer_writes(feed_client, "feed-1", "付款失败 card 4111 1111 1111 1111", "u1")
    frames = await events_until(ws, lambda f: f.get("event") == "message.inbound")
    inbound = frames[-1]
    assert inbound["type"] == "event" and inbound["conversation_id"] == cid
    assert inbound["queue"] == "payments" and inbound["status"] == "open" and inbound["assignee"] is None
    assert inbound["data"]["type"] == "message.inbound" and inbound["data"]["conversation_id"] == cid
    assert "4111 1111 1111 1111" not in json.dumps(frames)  # events carry masked text only
    await ws.close()


async def test_agents_get_only_events_they_may_see_and_ops_get_all(feed_client: TestClient) -> None:
    alice = await signed_in(feed_client, ALICE_TOKEN)  # serves payments and general
    bob = await signed_in(feed_client, BOB_TOKEN)  # serves accounts and general
    ops = await signed_in(feed_client, OPS_TOKEN)
    paid = await customer_writes(feed_client, "vis-1", "payment failed", "u1")
    for_alice = await events_until(alice, lambda f: f.get("event") == "message.inbound")
    assert {f["conversation_id"] for f in for_alice} == {paid}

    locked = await customer_writes(feed_client, "vis-2", "账户被锁了", "u2")
    # The feed hands events out in order; had bob been sent anything about the payments
    # conversation, it would come before the accounts one.
    for_bob = await events_until(bob, lambda f: f.get("event") == "message.inbound")
    assert {f["conversation_id"] for f in for_bob} == {locked}
    for_ops = await events_until(ops, lambda f: f.get("event") == "message.inbound" and f["conversation_id"] == locked)
    assert {f["conversation_id"] for f in for_ops} == {paid, locked}

    # Alice claims hers: she hears of it; bob does not, ops do.
    claimed = await feed_client.post(f"/api/v1/conversations/{paid}/claim", json={}, headers=auth_of(ALICE_TOKEN))
    assert claimed.status == 200
    assigned = await events_until(alice, lambda f: f.get("event") == "conversation.assigned")
    assert assigned[-1]["assignee"] == "alice" and assigned[-1]["conversation_id"] == paid
    await events_until(ops, lambda f: f.get("event") == "conversation.assigned")
    general = await customer_writes(feed_client, "vis-3", "hello there", "u3")  # general: both agents see it
    for_bob = await events_until(bob, lambda f: f.get("event") == "message.inbound")
    assert {f["conversation_id"] for f in for_bob} == {general}
    for ws in (alice, bob, ops):
        await ws.close()


def auth_of(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_wrong_token_closes_the_socket_with_4401(client: TestClient) -> None:
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "auth", "token": "not-a-token"})
    error = await ws.receive_json(timeout=WAIT)
    assert error == {"type": "error", "code": "invalid_token", "message": "this token is not valid"}
    closing = await ws.receive(timeout=WAIT)
    assert closing.type is WSMsgType.CLOSE and ws.close_code == console_ws.CLOSE_BAD_TOKEN == 4401


@pytest.mark.parametrize(
    "first",
    [
        {"type": "ping"},
        {"type": "auth"},
        {"type": "auth", "token": 42},
        "not json at all",
        {"type": "auth", "token": ""},
    ],
)
async def test_anything_but_an_auth_frame_first_is_refused(client: TestClient, first: Any) -> None:
    ws = await client.ws_connect(WS)
    await (ws.send_str(first) if isinstance(first, str) else ws.send_json(first))
    error = await ws.receive_json(timeout=WAIT)
    assert error["type"] == "error" and error["code"] in ("auth_required", "invalid_token")
    await ws.receive(timeout=WAIT)
    assert ws.close_code in (console_ws.CLOSE_POLICY, console_ws.CLOSE_BAD_TOKEN)


async def test_silence_after_connecting_is_closed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_ws, "AUTH_TIMEOUT", 0.2)
    ws = await client.ws_connect(WS)
    error = await ws.receive_json(timeout=WAIT)
    assert error["code"] == "auth_timeout"
    await ws.receive(timeout=WAIT)
    assert ws.close_code == console_ws.CLOSE_POLICY


async def test_a_plain_get_is_told_to_use_a_websocket_and_a_token_in_the_header_is_not_needed(
    client: TestClient,
) -> None:
    resp = await client.get(WS)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "websocket_required"


async def test_pings_are_answered_and_other_frames_get_an_error(client: TestClient) -> None:
    ws = await signed_in(client, ALICE_TOKEN)
    await ws.send_json({"type": "ping"})
    assert await ws.receive_json(timeout=WAIT) == {"type": "pong"}
    await ws.send_json({"type": "subscribe", "all": True})
    assert (await ws.receive_json(timeout=WAIT))["code"] == "unknown_frame"
    await ws.close()


async def test_shutdown_closes_console_sockets_as_going_away(client: TestClient) -> None:
    ws = await signed_in(client, OPS_TOKEN)
    await console_ws.close_sockets(client.app)
    closing = await ws.receive(timeout=WAIT)
    assert closing.type is WSMsgType.CLOSE and ws.close_code == 1001
    assert client.app[FEED].listeners == 0


class Recorder:
    def __init__(self, wants: bool = True) -> None:
        self.events: list[FeedEvent] = []
        self.resyncs = 0
        self._wants = wants

    def wants(self, event: FeedEvent) -> bool:
        return self._wants

    def push_event(self, event: FeedEvent) -> None:
        self.events.append(event)

    def push_resync(self) -> None:
        self.resyncs += 1


def event(routing_key: str, **body: Any) -> Outgoing:
    return Outgoing(
        exchange="gateway.events", routing_key=routing_key, body=json.dumps(body).encode(), message_id=routing_key
    )


async def test_the_feed_looks_each_conversation_up_once_and_skips_work_nobody_watches() -> None:
    publisher = MemoryPublisher()
    looked_up: list[str] = []

    async def lookup(cid: str) -> Conversation | None:
        looked_up.append(cid)
        return None

    await publisher.start(["general"])
    feed = EventFeed(MemoryEventSource(publisher), lookup)
    await feed.start()
    try:
        # The in-process broker hands events over inside publish(): with no listener the
        # feed drops this one there and then (the look-ups below show it never reached them).
        await publisher.publish(event("message.inbound", conversation_id="cv_1"))
        assert looked_up == []  # no listener: not even parsed
        first, second, deaf = Recorder(), Recorder(), Recorder(wants=False)
        for listener in (first, second, deaf):
            feed.add(listener)
        await publisher.publish(event("message.inbound", conversation_id="cv_2"))
        await publisher.publish(event("contact.merged", contact_id="ct_1"))
        await publisher.publish(Outgoing(exchange="gateway.work", routing_key="general", body=b"{}", message_id="o"))
        await eventually(lambda: len(first.events) == 2)
        assert looked_up == ["cv_2"]  # once for all listeners; none for an event without a conversation
        assert [e.routing_key for e in second.events] == ["message.inbound", "contact.merged"]  # offers are not events
        assert deaf.events == []
    finally:
        await feed.close()
    assert publisher.listeners == []


async def test_a_listener_that_falls_behind_gets_one_resync_instead_of_the_backlog() -> None:
    async def lookup(cid: str) -> Conversation | None:
        return None

    publisher = MemoryPublisher()
    feed = EventFeed(MemoryEventSource(publisher), lookup)
    listener = Recorder()
    feed.add(listener)
    await feed.start()
    try:
        for n in range(10_050):  # more than the backlog holds, before the dispatcher runs
            await publisher.publish(event("message.status", n=n))
        await eventually(lambda: listener.resyncs == 1)
    finally:
        await feed.close()


def test_visibility_follows_queues_and_assignment() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    conv = Conversation(id="cv_1", contact_id="ct_1", channel="api", created_at=now, updated_at=now, queue="payments")
    alice, bob, ops = Principal("agent", "alice"), Principal("agent", "bob"), Principal("ops")
    inbound = FeedEvent(routing_key="message.inbound", body={"conversation_id": "cv_1"}, conversation=conv)
    assert console_ws.visible(alice, inbound, ["payments"])
    assert not console_ws.visible(bob, inbound, ["accounts"])
    assert console_ws.visible(ops, inbound, [])
    held = FeedEvent(
        routing_key="message.inbound",
        body={"conversation_id": "cv_1"},
        conversation=conv.model_copy(update={"assignee": "bob"}),
    )
    assert console_ws.visible(bob, held, ["accounts"])  # assigned to him, whatever the queue
    resolved = FeedEvent(routing_key="conversation.resolved", body={"conversation_id": "cv_9", "assignee": "bob"})
    assert console_ws.visible(bob, resolved, [])  # named in the event
    unknown = FeedEvent(routing_key="contact.merged", body={"contact_id": "ct_1"})
    assert not console_ws.visible(alice, unknown, ["payments"]) and console_ws.visible(ops, unknown, [])


async def test_the_feed_unsubscribes_when_the_last_console_leaves(
    feed_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.web.console_feed as event_feed

    monkeypatch.setattr(event_feed, "IDLE_GRACE", 0.2)
    ws = await signed_in(feed_client, OPS_TOKEN)
    assert feed_client.app[FEED].ready()
    await ws.close()
    if isinstance(feed_client.app[FEED].source, AmqpEventSource):
        await eventually(lambda: not feed_client.app[FEED].ready(), timeout=WAIT)
        again = await signed_in(feed_client, OPS_TOKEN)  # and comes back for the next one
        assert feed_client.app[FEED].ready()
        await again.close()
