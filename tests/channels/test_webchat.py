"""Web chat over a real websocket (aiohttp's client), on the in-memory store and on Redis."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.channels.webchat import WebchatChannel
from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import RedisStore
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.conftest import REDIS_URL, eventually
from tests.helpers import ALICE_TOKEN, BOB_TOKEN, auth, gateway_config, signed_api_body

ORIGIN = "https://shop.example.com"


def webchat_section(**overrides: Any) -> dict[str, Any]:
    return {"allowed_origins": [ORIGIN], **overrides}


@pytest.fixture
def make_chat(aiohttp_client: Any, store: Store, publisher: MemoryPublisher) -> Callable[..., Awaitable[TestClient]]:
    async def make(**webchat: Any) -> TestClient:
        config = gateway_config(channels={"webchat": webchat_section(**webchat)})
        return await aiohttp_client(build_app(config, store=store, publisher=publisher))

    return make


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
async def chat(make_chat: Callable[..., Awaitable[TestClient]]) -> TestClient:
    return await make_chat()


class Visitor:
    """One browser tab: a websocket plus the frames it has received and not yet looked at."""

    def __init__(self, client: TestClient, origin: str = ORIGIN) -> None:
        self.client = client
        self.origin = origin
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] = {}

    @property
    def token(self) -> str:
        return str(self.welcome["token"])

    @property
    def visitor_id(self) -> str:
        return str(self.welcome["visitor_id"])

    async def open(self) -> Visitor:
        self.ws = await self.client.ws_connect("/webchat/ws", headers={"Origin": self.origin})
        self.inbox = []
        return self

    async def hello(self, token: str | None = None, **fields: Any) -> dict[str, Any]:
        await self.open()
        await self.raw(json.dumps({"type": "hello", "token": token, **fields}))
        self.welcome = await self.next("welcome")
        return self.welcome

    async def raw(self, data: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(data)

    async def frame(self, **body: Any) -> None:
        await self.raw(json.dumps(body, ensure_ascii=False))

    async def _receive(self, timeout: float) -> None:
        assert self.ws is not None
        try:
            msg = await self.ws.receive(timeout=timeout)
        except TimeoutError:
            return
        if msg.type is not WSMsgType.TEXT:
            raise AssertionError(f"socket ended ({msg.type}, {msg.data}); unread: {self.inbox}")
        self.inbox.append(json.loads(msg.data))

    async def next(self, kind: str | None = None, *, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        """The first received frame of that type (and matching fields), waiting for it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, frame in enumerate(self.inbox):
                if (kind is None or frame.get("type") == kind) and all(frame.get(k) == v for k, v in match.items()):
                    return self.inbox.pop(i)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {kind} frame {match} within {timeout}s; got {self.inbox}")
            await self._receive(remaining)

    async def message(self, *, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        """The first ``message`` frame whose message has these fields (e.g. ``from="agent"``)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for i, frame in enumerate(self.inbox):
                body = frame.get("message") or {}
                if frame.get("type") == "message" and all(body.get(k) == v for k, v in match.items()):
                    return self.inbox.pop(i)["message"]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no message {match} within {timeout}s; got {self.inbox}")
            await self._receive(remaining)

    async def until_pong(self) -> list[dict[str, Any]]:
        """Every frame the gateway sent in answer to this socket's earlier frames: it
        handles a socket's frames in order, so they all come before the pong."""
        await self.frame(type="ping")
        await self.next("pong")
        return self.inbox

    async def until_marker(self) -> list[dict[str, Any]]:
        """Every frame the gateway had sent to this socket so far: a marker pushed through
        the reply bus now is written after them."""
        marker = f"marker-{len(self.inbox)}-{id(self)}"
        await adapter_of(self.client).bus.publish(self.visitor_id, json.dumps({"type": "marker", "id": marker}))
        await self.next("marker", id=marker)
        return self.inbox

    async def say(self, client_id: str, text: str) -> dict[str, Any]:
        await self.frame(type="message", id=client_id, text=text)
        return await self.next("ack", id=client_id)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def adapter_of(client: TestClient) -> WebchatChannel:
    adapter = client.server.app[SERVICES].adapter_for(Channel.WEBCHAT)
    assert isinstance(adapter, WebchatChannel)
    return adapter


async def webchat_conversations(client: TestClient) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/conversations", headers=auth())
    assert resp.status == 200
    return [c for c in (await resp.json())["conversations"] if c["channel"] == "webchat"]


async def conversation_of(client: TestClient, visitor_id: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        return next((c for c in await webchat_conversations(client) if c["endpoint"] == f"webchat:{visitor_id}"), None)

    found = await eventually(find)
    resp = await client.get(f"/api/v1/conversations/{found['id']}", headers=auth())
    return await resp.json()


async def reply(client: TestClient, conversation_id: str, text: str, token: str = ALICE_TOKEN) -> dict[str, Any]:
    resp = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"text": text}, headers=auth(token)
    )
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def status_of(client: TestClient, conversation_id: str, message_id: str) -> str | None:
    resp = await client.get(f"/api/v1/conversations/{conversation_id}", headers=auth())
    return next(m for m in (await resp.json())["messages"] if m["id"] == message_id)["status"]


# --- the conversation ---------------------------------------------------------------


async def test_a_new_visitor_gets_a_token_and_each_message_is_acked_with_its_id(chat: TestClient, store: Store) -> None:
    tab = Visitor(chat)
    welcome = await tab.hello(name="陈静", language="zh-CN", page="https://shop.example.com/pay?card=1")
    assert welcome["new"] is True and welcome["token"].startswith("wc1." + welcome["visitor_id"] + ".")
    assert welcome["limits"]["max_message_chars"] == 4000
    ack = await tab.say("c-1", "我的付款失败了，卡号 4111 1111 1111 1111")
    assert ack["duplicate"] is False and ack["message_id"].startswith("msg_")
    conv = await conversation_of(chat, tab.visitor_id)
    stored = [m for m in conv["messages"] if m["id"] == ack["message_id"]]
    assert len(stored) == 1
    assert stored[0]["text"] == "我的付款失败了，卡号 **** **** **** 1111"  # masked before it was stored
    assert stored[0]["external_id"] == f"{tab.visitor_id}:c-1"
    assert stored[0]["sender"]["name"] == "陈静"
    assert stored[0]["meta"] == {"page": "https://shop.example.com/pay"}  # no query string kept
    assert conv["channel"] == "webchat" and conv["queue"] == "general"
    echo = await tab.message(client_id="c-1")
    assert "4111 1111" not in echo["text"]


async def test_the_ack_waits_until_the_store_has_the_message(chat: TestClient, store: Store) -> None:
    services = chat.server.app[SERVICES]
    gate = asyncio.Event()
    real_ingest = services.store.ingest

    entered = asyncio.Event()

    async def slow_ingest(plan: Any) -> Any:
        entered.set()
        await gate.wait()
        return await real_ingest(plan)

    services.store.ingest = slow_ingest  # type: ignore[method-assign]
    try:
        tab = Visitor(chat)
        await tab.hello()
        await tab.frame(type="message", id="slow-1", text="还在吗？")
        await asyncio.wait_for(entered.wait(), 30)  # the store write is under way, and held
        assert [f for f in await tab.until_marker() if f["type"] == "ack"] == []
        gate.set()
        ack = await tab.next("ack", id="slow-1")
    finally:
        services.store.ingest = real_ingest  # type: ignore[method-assign]
    conv = await conversation_of(chat, tab.visitor_id)
    assert [m["id"] for m in conv["messages"]] == [ack["message_id"]]


async def test_reconnecting_with_the_token_shows_the_history_without_notes(chat: TestClient) -> None:
    tab = Visitor(chat)
    await tab.hello()
    first = await tab.say("c-1", "退款什么时候到账？")
    second = await tab.say("c-2", "订单号 A1001")
    conv = await conversation_of(chat, tab.visitor_id)
    answer = await reply(chat, conv["id"], "您好，退款将在 3 个工作日内到账。")
    note = await chat.post(
        f"/api/v1/conversations/{conv['id']}/messages", json={"text": "内部备注：VIP", "note": True}, headers=auth()
    )
    assert note.status == 202
    await tab.close()

    again = Visitor(chat)
    welcome = await again.hello(token=tab.token)
    assert welcome["new"] is False and welcome["visitor_id"] == tab.visitor_id
    history = (await again.next("history"))["messages"]
    assert [m["id"] for m in history] == [first["message_id"], second["message_id"], answer["id"]]
    assert [m["from"] for m in history] == ["visitor", "visitor", "agent"]
    assert history[0]["client_id"] == "c-1" and history[2]["name"] == "alice"
    assert history[2]["text"] == "您好，退款将在 3 个工作日内到账。"
    assert all("内部备注" not in m["text"] for m in history)


async def test_a_second_tab_resumes_the_same_conversation_and_sees_new_messages(chat: TestClient) -> None:
    one = Visitor(chat)
    await one.hello()
    await one.say("c-1", "hello")
    two = Visitor(chat)
    await two.hello(token=one.token)
    assert [m["client_id"] for m in (await two.next("history"))["messages"]] == ["c-1"]
    await one.say("c-2", "第二条")
    echoed = await two.message(client_id="c-2")
    assert echoed["text"] == "第二条" and echoed["from"] == "visitor"
    assert len(await webchat_conversations(chat)) == 1


async def test_agent_reply_reaches_every_open_tab_and_a_receipt_marks_it_delivered(chat: TestClient) -> None:
    one, two = Visitor(chat), Visitor(chat)
    await one.hello()
    await two.hello(token=(one.welcome["token"]))
    await one.say("c-1", "Is my refund done?")
    conv = await conversation_of(chat, one.visitor_id)
    answer = await reply(chat, conv["id"], "Yes — 已退款 ✅")
    for tab in (one, two):
        got = await tab.message(**{"from": "agent"})
        assert got["id"] == answer["id"] and got["text"] == "Yes — 已退款 ✅" and got["name"] == "alice"
    await eventually(lambda: _is(status_of(chat, conv["id"], answer["id"]), "sent"))
    await one.frame(type="delivered", id=answer["id"])
    await eventually(lambda: _is(status_of(chat, conv["id"], answer["id"]), "delivered"))


async def _is(awaitable: Awaitable[Any], value: Any) -> bool:
    return (await awaitable) == value


async def test_a_receipt_for_a_message_the_socket_never_got_changes_nothing(chat: TestClient) -> None:
    owner, stranger = Visitor(chat), Visitor(chat)
    await owner.hello()
    await stranger.hello()
    await owner.say("c-1", "hi")
    conv = await conversation_of(chat, owner.visitor_id)
    answer = await reply(chat, conv["id"], "hello")
    await eventually(lambda: _is(status_of(chat, conv["id"], answer["id"]), "sent"))
    await stranger.frame(type="delivered", id=answer["id"])
    await stranger.frame(type="ping")
    await stranger.next("pong")
    assert await status_of(chat, conv["id"], answer["id"]) == "sent"


async def test_an_offline_visitor_finds_the_reply_in_the_history(chat: TestClient) -> None:
    tab = Visitor(chat)
    await tab.hello()
    await tab.say("c-1", "我先下线了")
    await tab.close()
    conv = await conversation_of(chat, tab.visitor_id)
    answer = await reply(chat, conv["id"], "好的，我们查到了")
    await eventually(lambda: _is(status_of(chat, conv["id"], answer["id"]), "sent"))
    back = Visitor(chat)
    await back.hello(token=tab.token)
    history = (await back.next("history"))["messages"]
    assert history[-1]["id"] == answer["id"] and history[-1]["status"] == "sent"


# --- tokens and identity ------------------------------------------------------------


async def test_forged_or_edited_tokens_are_refused_and_the_socket_closed(chat: TestClient) -> None:
    owner = Visitor(chat)
    await owner.hello()
    await owner.say("c-1", "私密信息")
    other = Visitor(chat)
    await other.hello()
    _, _, signature = owner.token.split(".")
    forged = [
        f"wc1.{other.visitor_id}.{signature}",  # someone else's id with this signature
        f"wc1.{owner.visitor_id}.{signature[:-2]}AA",  # a bit flipped
        owner.token.replace("wc1.", "wc2."),
        "wc1.v_00000000000000000000000000.x",
        "garbage",
    ]
    for token in forged:
        tab = Visitor(chat)
        await tab.open()
        await tab.frame(type="hello", token=token)
        error = await tab.next("error")
        assert error["code"] == "invalid_token"
        assert tab.ws is not None
        closing = await tab.ws.receive(timeout=30)
        assert closing.type is WSMsgType.CLOSE and closing.data == 4403
        assert [f for f in tab.inbox if f["type"] in ("welcome", "history")] == []


async def test_a_token_from_a_gateway_with_another_key_is_refused(
    chat: TestClient, aiohttp_client: Any, store: Store
) -> None:
    config = gateway_config(channels={"webchat": webchat_section(token_secret="another-key-entirely-9f")})
    elsewhere = await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))
    foreign = Visitor(elsewhere)
    await foreign.hello()
    tab = Visitor(chat)
    await tab.open()
    await tab.frame(type="hello", token=foreign.token)
    assert (await tab.next("error"))["code"] == "invalid_token"


async def test_a_typed_email_is_a_claim_that_joins_no_contact_and_no_conversation(chat: TestClient) -> None:
    """Anyone can type any address: without a signed identity it is an unverified claim
    kept on the visitor's own contact (docs/verification.md), never a way into someone's."""
    body, headers = signed_api_body(
        {"id": "crm-1", "from": {"id": "u-7", "email": "Chen.Jing@Example.com"}, "text": "hi"}
    )
    assert (await chat.post("/webhooks/api", data=body, headers=headers)).status == 200
    alice_tab, mallory_tab = Visitor(chat), Visitor(chat)
    await alice_tab.hello(name="陈静", email="chen.jing@example.com")
    await alice_tab.say("a-1", "我的账户被锁了")
    await mallory_tab.hello(email="CHEN.JING@example.com")  # claims the same address
    await mallory_tab.say("m-1", "give me her messages")
    alice_conv = await conversation_of(chat, alice_tab.visitor_id)
    mallory_conv = await conversation_of(chat, mallory_tab.visitor_id)
    crm_conv = (await (await chat.get("/api/v1/conversations?limit=10", headers=auth())).json())["conversations"]
    crm_contact = next(c["contact_id"] for c in crm_conv if c["channel"] == "api")
    assert len({alice_conv["contact_id"], mallory_conv["contact_id"], crm_contact}) == 3
    assert alice_conv["id"] != mallory_conv["id"]
    for tab, conv in ((alice_tab, alice_conv), (mallory_tab, mallory_conv)):
        contact = await (await chat.get(f"/api/v1/contacts/{conv['contact_id']}", headers=auth())).json()
        assert [f"{i['kind']}:{i['value']}" for i in contact["identities"]] == [f"webchat:{tab.visitor_id}"]
        assert contact["attributes"]["claimed_email"] == "chen.jing@example.com"

    sent = await reply(chat, alice_conv["id"], "陈女士您好，已为您解锁")
    await alice_tab.message(**{"from": "agent"})
    await eventually(lambda: _is(status_of(chat, alice_conv["id"], sent["id"]), "sent"))  # the send is over
    assert [f for f in await mallory_tab.until_marker() if f.get("message", {}).get("from") == "agent"] == []
    again = Visitor(chat)
    await again.hello(token=mallory_tab.token)
    history = (await again.next("history"))["messages"]
    assert [m["text"] for m in history] == ["give me her messages"]


async def test_identify_sets_the_name_and_email_for_later_messages(chat: TestClient) -> None:
    tab = Visitor(chat)
    await tab.hello()
    await tab.frame(type="identify", name="  Li   Wei ", email="not-an-address")
    assert (await tab.next("error"))["code"] == "invalid_email"
    await tab.frame(type="identify", name="  Li   Wei ", email="LI.WEI@example.com", phone="call me")
    assert (await tab.next("error"))["code"] == "invalid_phone"
    await tab.frame(type="identify", name="  Li   Wei ", email="LI.WEI@example.com", phone="+86 138 0013 8000")
    identified = await tab.next("identified")
    assert identified == {
        "type": "identified",
        "name": "Li Wei",
        "email": "li.wei@example.com",
        "phone": "+8613800138000",
    }
    await tab.say("c-1", "hello")
    conv = await conversation_of(chat, tab.visitor_id)
    contact = await (await chat.get(f"/api/v1/contacts/{conv['contact_id']}", headers=auth())).json()
    assert contact["name"] == "Li Wei"
    assert contact["attributes"]["claimed_email"] == "li.wei@example.com"  # a claim, not an identity
    assert contact["attributes"]["claimed_phone"] == "+8613800138000"
    assert [i["kind"] for i in contact["identities"]] == ["webchat"]
    assert {"kind": "email", "value": "li.wei@example.com"} not in contact["identities"]


# --- origins, connections, limits ---------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://shop.example.com", None])
async def test_a_socket_from_an_origin_not_allowed_gets_403(chat: TestClient, origin: str | None) -> None:
    headers = {"Origin": origin} if origin else {}
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await chat.ws_connect("/webchat/ws", headers=headers)
    assert caught.value.status == 403
    resp = await chat.get("/webchat/ws", headers={**headers, "Connection": "Upgrade", "Upgrade": "websocket"})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "origin_not_allowed"


async def test_the_gateways_own_origin_and_trailing_slashes_are_allowed(chat: TestClient) -> None:
    for origin in ("http://127.0.0.1:8080", "HTTPS://Shop.Example.com/"):
        tab = Visitor(chat, origin=origin)
        assert (await tab.hello())["new"] is True
        await tab.close()


async def test_a_plain_get_of_the_socket_path_is_a_400_not_a_500(chat: TestClient) -> None:
    resp = await chat.get("/webchat/ws", headers={"Origin": ORIGIN})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "websocket_required"


async def test_connections_per_address_are_limited(make_chat: Callable[..., Awaitable[TestClient]]) -> None:
    chat = await make_chat(max_connections_per_ip=2)
    tabs = [await Visitor(chat).open() for _ in range(2)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await chat.ws_connect("/webchat/ws", headers={"Origin": ORIGIN})
    assert caught.value.status == 429
    await tabs[0].close()
    await eventually(lambda: adapter_of(chat).connections.total() == 1)
    assert (await Visitor(chat).hello())["new"] is True


async def test_messages_over_the_rate_get_an_error_with_retry_after_and_are_not_stored(
    make_chat: Callable[..., Awaitable[TestClient]],
) -> None:
    # One message per 20 s after a burst of two: the third is over the rate however slowly
    # this machine sends the three (the refill itself is tested on a clock in test_webchat_parts).
    chat = await make_chat(messages_per_second=0.05, message_burst=2)
    tab = Visitor(chat)
    await tab.hello()
    await tab.say("c-1", "一")
    await tab.say("c-2", "二")
    await tab.frame(type="message", id="c-3", text="三")
    limited = await tab.next("error", id="c-3")
    assert limited["code"] == "rate_limited" and 0 < limited["retry_after"] <= 20
    conv = await conversation_of(chat, tab.visitor_id)
    assert [m["text"] for m in conv["messages"]] == ["一", "二"]
    other = Visitor(chat)  # the rate is each visitor's own
    await other.hello()
    assert (await other.say("o-1", "我也有问题"))["duplicate"] is False


async def test_a_flood_of_frames_is_answered_then_the_socket_closed(chat: TestClient) -> None:
    tab = Visitor(chat)
    await tab.hello()
    for _ in range(200):
        await tab.frame(type="ping")
    assert tab.ws is not None
    codes = []
    while True:
        msg = await tab.ws.receive(timeout=30)
        if msg.type is not WSMsgType.TEXT:
            break
        codes.append(json.loads(msg.data).get("code"))
    assert "rate_limited" in codes and msg.type is WSMsgType.CLOSE and msg.data == 1008


async def test_bad_frames_get_error_frames_and_the_socket_keeps_working(
    make_chat: Callable[..., Awaitable[TestClient]],
) -> None:
    chat = await make_chat(max_message_chars=10, max_frame_bytes=2048)
    tab = Visitor(chat)
    await tab.open()
    await tab.frame(type="message", id="early", text="hi")
    assert (await tab.next("error"))["code"] == "hello_first"
    await tab.frame(type="hello")
    tab.welcome = await tab.next("welcome")
    cases = [
        ("{not json", "malformed", None),
        ("[1, 2]", "malformed", None),
        ('"just a string"', "malformed", None),
        (json.dumps({"type": "launch_missiles"}), "unknown_type", None),
        (json.dumps({"text": "no type"}), "unknown_type", None),
        (json.dumps({"type": "message", "text": "no id"}), "invalid_id", None),
        (json.dumps({"type": "message", "id": "has space", "text": "x"}), "invalid_id", None),
        (json.dumps({"type": "message", "id": "e-1", "text": 42}), "invalid", "e-1"),
        (json.dumps({"type": "message", "id": "e-2", "text": "   "}), "empty", "e-2"),
        (
            json.dumps({"type": "message", "id": "e-3", "text": "中文字符超过十个字的消息"}, ensure_ascii=False),
            "too_long",
            "e-3",
        ),
        (json.dumps({"type": "message", "id": "e-4", "text": "x" * 3000}), "too_large", None),
        (json.dumps({"type": "delivered", "id": "../../etc"}), "invalid_id", None),
        (json.dumps({"type": "hello"}), "unexpected_hello", None),
    ]
    for data, code, client_id in cases:
        await tab.raw(data)
        error = await tab.next("error")
        assert error["code"] == code, data
        assert error.get("id") == client_id, data
    assert tab.ws is not None
    await tab.ws.send_bytes(b"\x00\x01binary")
    assert (await tab.next("error"))["code"] == "malformed"
    assert (await tab.say("ok-1", "中文没问题"))["duplicate"] is False
    conv = await conversation_of(chat, tab.visitor_id)
    assert [m["text"] for m in conv["messages"]] == ["中文没问题"]


def adapter_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the web chat adapter logged as an error (a failed socket, a message not stored)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("gateway.channels.webchat") and r.levelno >= logging.ERROR
    ]


async def test_a_deeply_nested_frame_gets_an_error_frame_and_the_socket_keeps_working(
    chat: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="gateway.channels.webchat")
    deep = "[" * 5000 + "]" * 5000  # ~10 KB: json.loads alone would raise RecursionError
    tab = Visitor(chat)
    await tab.open()
    await tab.raw('{"type":"hello","extra":' + deep + "}")  # before the hello too
    assert (await tab.next("error"))["code"] == "too_deep"
    await tab.frame(type="hello")
    tab.welcome = await tab.next("welcome")
    for data in (
        '{"type":"message","id":"d-1","text":"x","extra":[' + deep + "]}",
        '{"type":' + '{"a":' * 2500 + "1" + "}" * 2500 + "}",
        "[" * 20000,  # never closed
    ):
        await tab.raw(data)
        error = await tab.next("error")
        assert error["code"] == "too_deep" and "id" not in error and "retry_after" not in error
    # brackets inside strings and a little nesting in extra fields are fine
    await tab.raw(json.dumps({"type": "message", "id": "d-2", "text": "[" * 3000, "meta": {"a": [[1], {"b": []}]}}))
    assert (await tab.next("ack", id="d-2"))["duplicate"] is False
    ack = await tab.say("d-3", "还在吗？")
    assert ack["duplicate"] is False
    conv = await conversation_of(chat, tab.visitor_id)
    assert [m["text"] for m in conv["messages"]] == ["[" * 3000, "还在吗？"]
    assert adapter_errors(caplog) == []


async def test_lone_surrogates_are_replaced_and_the_message_stored_once_not_retried(
    chat: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="gateway.channels.webchat")
    tab = Visitor(chat)
    await tab.open()
    # JSON's \u escapes can spell a lone surrogate (a browser's JSON.stringify does, for a
    # string cut in the middle of an emoji); such a string cannot be encoded as UTF-8.
    await tab.raw(
        r'{"type":"hello","name":"Li\ud800 Wei","email":"li\ud800@example.com",'
        r'"page":"https://shop.example.com/\udc00cart?card=1","language":"zh\udfff"}'
    )
    tab.welcome = await tab.next("welcome")
    message = r'{"type":"message","id":"s-1","text":"坏了 \ud83d 和 \udc00\ud800，但 \ud83d\ude00 好"}'
    text = "坏了 \ufffd 和 \ufffd\ufffd，但 😀 好"
    await tab.raw(message)
    ack = await tab.next("ack", id="s-1")
    assert ack["duplicate"] is False
    assert (await tab.message(client_id="s-1"))["text"] == text
    assert [f for f in await tab.until_pong() if f["type"] == "error"] == []  # nothing to resend
    await tab.raw(message)  # the widget resending it (e.g. after a reconnect) is a duplicate
    assert (await tab.next("ack", id="s-1"))["duplicate"] is True

    conv = await conversation_of(chat, tab.visitor_id)
    assert [(m["id"], m["text"]) for m in conv["messages"]] == [(ack["message_id"], text)]
    stored = conv["messages"][0]
    assert stored["sender"]["name"] == "Li\ufffd Wei"
    assert stored["meta"] == {"page": "https://shop.example.com/\ufffdcart"}
    contact = await (await chat.get(f"/api/v1/contacts/{conv['contact_id']}", headers=auth())).json()
    assert [i["kind"] for i in contact["identities"]] == ["webchat"]  # no address made of garbage

    # identify: a name is cleaned; an address with a lone surrogate is not an address (final)
    await tab.raw(r'{"type":"identify","name":"\udfffChen","email":"chen\ud800@example.com"}')
    refused = await tab.next("error")
    assert refused["code"] == "invalid_email" and "retry_after" not in refused
    await tab.raw(r'{"type":"identify","name":"\udfffChen\u0000 Jing","email":"chen@example.com"}')
    identified = await tab.next("identified")
    assert identified == {"type": "identified", "name": "\ufffdChen Jing", "email": "chen@example.com"}
    assert (await tab.say("s-2", "ok"))["duplicate"] is False

    # a token with a lone surrogate is just not a token: refused as such, not a failed socket
    other = Visitor(chat)
    await other.open()
    await other.raw(r'{"type":"hello","token":"wc1.' + tab.visitor_id + r'.\ud800"}')
    assert (await other.next("error"))["code"] == "invalid_token"
    assert other.ws is not None
    closing = await other.ws.receive(timeout=30)
    assert closing.type is WSMsgType.CLOSE and closing.data == 4403
    assert adapter_errors(caplog) == []


async def test_a_frame_far_over_the_limit_closes_the_socket_with_1009(
    make_chat: Callable[..., Awaitable[TestClient]],
) -> None:
    chat = await make_chat(max_frame_bytes=2048)
    tab = Visitor(chat)
    await tab.hello()
    await tab.raw("x" * (200 * 1024))
    assert tab.ws is not None
    msg = await tab.ws.receive(timeout=30)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1009
    assert (await Visitor(chat).hello())["new"] is True  # the server is fine


async def test_no_hello_in_time_closes_the_socket(make_chat: Callable[..., Awaitable[TestClient]]) -> None:
    chat = await make_chat(hello_timeout="0.3s")
    tab = await Visitor(chat).open()
    assert (await tab.next("error"))["code"] == "hello_timeout"
    assert tab.ws is not None
    assert (await tab.ws.receive(timeout=30)).type is WSMsgType.CLOSE


# --- resending ---------------------------------------------------------------------


async def test_a_message_resent_after_a_reconnect_is_acked_again_but_stored_once(chat: TestClient) -> None:
    tab = Visitor(chat)
    await tab.hello()
    first = await tab.say("c-1", "我付了两次款")
    await tab.close()
    again = Visitor(chat)
    await again.hello(token=tab.token)
    await again.next("history")
    second = await again.say("c-1", "我付了两次款")
    assert second["duplicate"] is True and second["message_id"] == first["message_id"]
    conv = await conversation_of(chat, tab.visitor_id)
    assert [m["id"] for m in conv["messages"]] == [first["message_id"]]


async def test_the_same_message_from_two_tabs_at_once_is_stored_once(chat: TestClient) -> None:
    one, two = Visitor(chat), Visitor(chat)
    await one.hello()
    await two.hello(token=one.token)
    acks = await asyncio.gather(one.say("same", "并发"), two.say("same", "并发"))
    assert acks[0]["message_id"] == acks[1]["message_id"]
    assert sorted(a["duplicate"] for a in acks) == [False, True]
    conv = await conversation_of(chat, one.visitor_id)
    assert len(conv["messages"]) == 1


async def test_the_same_client_id_from_two_visitors_is_two_messages(chat: TestClient) -> None:
    one, two = Visitor(chat), Visitor(chat)
    await one.hello()
    await two.hello()
    a = await one.say("1", "same id")
    b = await two.say("1", "same id")
    assert a["message_id"] != b["message_id"] and not b["duplicate"]


# --- storage down, static files, shutdown ----------------------------------------------


async def test_storage_down_answers_unavailable_and_never_acks(aiohttp_client: Any) -> None:
    from tests.servers import free_port

    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0", prefix="gwt-dead", socket_timeout=0.5)
    config = gateway_config(channels={"webchat": webchat_section()})
    client = await aiohttp_client(build_app(config, store=dead, publisher=MemoryPublisher()))
    tab = Visitor(client)
    await tab.hello()  # a new visitor needs no storage
    await tab.frame(type="message", id="c-1", text="存储挂了吗")
    error = await tab.next("error", id="c-1", timeout=30)
    assert error["code"] == "unavailable" and error["retry_after"] > 0
    assert [f for f in tab.inbox if f["type"] == "ack"] == []
    back = Visitor(client)
    await back.hello(token=tab.token)
    assert (await back.next("error", timeout=30))["code"] == "unavailable"  # history could not load


async def test_widget_and_demo_page_are_served(chat: TestClient) -> None:
    js = await chat.get("/static/widget.js")
    assert js.status == 200 and js.content_type == "application/javascript"
    body = await js.text()
    assert "/webchat/ws" in body and "data-gateway" in body and "在线客服" in body
    cached = await chat.get("/static/widget.js", headers={"If-None-Match": js.headers["ETag"]})
    assert cached.status == 304
    page = await chat.get("/chat?lang=zh-CN")
    html = await page.text()
    assert page.status == 200 and '<html lang="zh">' in html and 'src="/static/widget.js"' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<html lang="en">' in await (await chat.get("/chat?lang=<script>")).text()


async def test_without_its_section_the_channel_answers_404(client_without_webchat: TestClient) -> None:
    for path in ("/static/widget.js", "/chat", "/webchat/ws"):
        assert (await client_without_webchat.get(path, headers={"Origin": ORIGIN})).status == 404


@pytest.fixture
async def client_without_webchat(aiohttp_client: Any, store: Store) -> TestClient:
    return await aiohttp_client(build_app(gateway_config(), store=store, publisher=MemoryPublisher()))


async def test_shutdown_closes_sockets_with_going_away(chat: TestClient) -> None:
    tab = Visitor(chat)
    await tab.hello()
    await adapter_of(chat).close_sockets()
    assert tab.ws is not None
    msg = await tab.ws.receive(timeout=30)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1001
    await eventually(lambda: adapter_of(chat).open_sockets == 0)


# --- two gateways on one Redis, in one process ------------------------------------------


async def test_a_reply_sent_by_another_gateway_reaches_the_socket_through_redis(
    aiohttp_client: Any, redis_prefix: str
) -> None:
    apps = []
    for _ in range(2):
        store = RedisStore(REDIS_URL, prefix=redis_prefix)
        config = gateway_config(channels={"webchat": webchat_section()})
        apps.append(await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher())))
    a, b = apps
    b_adapter = adapter_of(b)
    tab = Visitor(a)
    await tab.hello()
    await tab.say("c-1", "跨进程")
    conv = await conversation_of(b, tab.visitor_id)
    # B alone sends: A's outbound service never sees this reply's timer run first.
    a.server.app[SERVICES].timers.stop()
    answer = await reply(b, conv["id"], "来自另一个进程的回复", token=BOB_TOKEN)
    got = await tab.message(**{"from": "agent"})
    assert got["id"] == answer["id"] and got["text"] == "来自另一个进程的回复"
    assert b_adapter.open_sockets == 0 and adapter_of(a).open_sockets == 1


async def test_the_gateways_own_pages_are_same_origin_on_any_port(chat: TestClient) -> None:
    own = f"http://{chat.host}:{chat.port}"
    tab = Visitor(chat, origin=own)
    assert (await tab.hello())["new"] is True
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await chat.ws_connect("/webchat/ws", headers={"Origin": f"http://{chat.host}:{chat.port + 1}"})
