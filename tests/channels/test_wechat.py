"""WeChat Official Account over HTTP: the signature on every request, safe XML, dedupe
of messages and events, and customer-service replies with an access token shared by every
gateway process through storage, against a fake WeChat API server."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.channels.wechat import WeChatChannel
from gateway.channels.wechat.crypto import WeChatCrypto, msg_signature
from gateway.channels.wechat.tokens import AccessTokens, TokenUnavailable
from gateway.model import (
    Channel,
    Conversation,
    Direction,
    Identity,
    IdentityKind,
    InboundMessage,
    IngestResult,
    Message,
    OutboundRequest,
    Sender,
    StatusUpdate,
)
from gateway.storage import RedisStore
from gateway.storage.base import StorageUnavailable, Store
from tests.channels.social_fakes import (
    FakeProvider,
    Recorded,
    conversations_of,
    gateway,
    message_status,
    messages_of,
    reply,
    start_fake,
)
from tests.conftest import eventually

TOKEN = "wx-token-5f2a9c-"
APP_ID = "wx8d2f1c0b3a4e5d6f"
APP_SECRET = "wx-app-secret-0e7b"
ACCOUNT = "gh_3a1b2c4d5e6f"
OPENID = "oR5Gjjl_eiZoUpGozMo7dbBJ362A"


class FakeWeChat(FakeProvider):
    """Issues numbered access tokens and honours only the ones not revoked."""

    def __init__(self) -> None:
        super().__init__(self.answer)
        self.valid: set[str] = set()
        self.issued = 0
        self.lifetime = 7200
        self.token_delay = 0.0  # seconds before a token answer, so concurrent fetches overlap

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/cgi-bin/token" and self.token_delay:
            await asyncio.sleep(self.token_delay)
        return await super().handle(request)

    def answer(self, request: Recorded) -> tuple[int, Any]:
        if request.path == "/cgi-bin/token":
            assert request.query == {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
            self.issued += 1
            token = f"ACCESS_TOKEN_{self.issued}"
            self.valid.add(token)
            return 200, {"access_token": token, "expires_in": self.lifetime}
        if request.query.get("access_token") not in self.valid:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    def revoke_all(self) -> None:
        self.valid.clear()


@pytest.fixture
async def wechat_api(aiohttp_server: Any) -> tuple[FakeWeChat, str]:
    fake = FakeWeChat()
    return fake, await start_fake(aiohttp_server, fake)


@pytest.fixture
async def client(aiohttp_client: Any, store: Store, wechat_api: tuple[FakeWeChat, str]) -> TestClient:
    return await gateway(
        aiohttp_client,
        store,
        wechat={"token": TOKEN, "app_id": APP_ID, "app_secret": APP_SECRET, "api_base_url": wechat_api[1]},
    )


def signed_query(token: str = TOKEN, **extra: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), "1514711492"
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def push(msg_type: str, *, sender: str = OPENID, created: int | None = None, **fields: str | int) -> bytes:
    values: dict[str, str | int] = {
        "ToUserName": ACCOUNT,
        "FromUserName": sender,
        "CreateTime": created if created is not None else int(time.time()) - 3,
        "MsgType": msg_type,
        **fields,
    }
    inner = "".join(
        f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>" for k, v in values.items()
    )
    return f"<xml>{inner}</xml>".encode()


async def post(client: TestClient, body: bytes, **query: str) -> str:
    resp = await client.post("/webhooks/wechat", params=signed_query(**query), data=body)
    assert resp.status == 200, await resp.text()
    return await resp.text()


async def stored(store: Store, openid: str = OPENID) -> list[Any]:
    return await messages_of(store, f"wechat:{openid}")


async def test_url_verification_echoes_echostr_only_when_signed(client: TestClient) -> None:
    resp = await client.get("/webhooks/wechat", params=signed_query(echostr="6417839264915163711"))
    assert resp.status == 200 and await resp.text() == "6417839264915163711"
    forged = signed_query(token="not-the-token", echostr="6417839264915163711")
    assert (await client.get("/webhooks/wechat", params=forged)).status == 403
    assert (await client.get("/webhooks/wechat", params={"echostr": "1"})).status == 401
    assert (await client.get("/webhooks/wechat", params=signed_query())).status == 400


async def test_pushes_without_a_valid_signature_are_refused(client: TestClient, store: Store) -> None:
    body = push("text", Content="你好", MsgId="24123456789012345")
    assert (await client.post("/webhooks/wechat", data=body)).status == 401
    forged = signed_query(token="guess")
    assert (await client.post("/webhooks/wechat", params=forged, data=body)).status == 403
    tampered = {**signed_query(), "nonce": "999"}
    assert (await client.post("/webhooks/wechat", params=tampered, data=body)).status == 403
    assert await stored(store) == []


async def test_a_text_push_is_stored_and_answered_success(client: TestClient, store: Store) -> None:
    created = int(time.time()) - 30
    answer = await post(
        client, push("text", created=created, Content="提现失败，显示“银行卡异常”", MsgId="24123456789012345")
    )
    assert answer == "success"
    [message] = await stored(store)
    assert message.text == "提现失败，显示“银行卡异常”" and message.external_id == "24123456789012345"
    assert message.provider_ts is not None and int(message.provider_ts.timestamp()) == created
    [conv] = await conversations_of(store, f"wechat:{OPENID}")
    assert conv.channel is Channel.WECHAT and conv.endpoint == ACCOUNT
    assert conv.window_expires_at is not None
    assert int(conv.window_expires_at.timestamp()) == created + 48 * 3600


async def test_msgid_dedupes_redelivery_and_concurrent_redelivery(client: TestClient, store: Store) -> None:
    body = push("text", Content="重复推送", MsgId="24123456789099999")
    answers = await asyncio.gather(
        *(client.post("/webhooks/wechat", params=signed_query(), data=body) for _ in range(4))
    )
    assert [a.status for a in answers] == [200] * 4
    assert await post(client, body) == "success"
    assert [m.external_id for m in await stored(store)] == ["24123456789099999"]


async def test_media_location_and_link_pushes(client: TestClient, store: Store) -> None:
    await post(
        client,
        push("image", PicUrl="http://mmbiz.qpic.cn/mmbiz_jpg/abc/0", MediaId="media_img_1", MsgId="24100000000000001"),
    )
    await post(
        client,
        push("voice", MediaId="media_voice_1", Format="amr", Recognition="我要退款", MsgId="24100000000000002"),
    )
    await post(client, push("voice", MediaId="media_voice_2", Format="speex", MsgId="24100000000000003"))
    await post(
        client,
        push(
            "location",
            Location_X="31.230416",
            Location_Y="121.473701",
            Scale="15",
            Label="上海市黄浦区人民广场",
            MsgId="24100000000000004",
        ),
    )
    await post(
        client,
        push(
            "link",
            Title="交易记录",
            Description="请看这笔",
            Url="https://pay.example.com/tx/88231",
            MsgId="24100000000000005",
        ),
    )
    by_id = {m.external_id: m for m in await stored(store)}
    [image] = by_id["24100000000000001"].attachments
    assert (image.url, image.media_id) == ("http://mmbiz.qpic.cn/mmbiz_jpg/abc/0", "media_img_1")
    voice = by_id["24100000000000002"]
    assert voice.text == "我要退款" and voice.meta["recognition"] == "我要退款"
    assert voice.attachments[0].media_id == "media_voice_1" and voice.attachments[0].content_type == "audio/amr"
    assert (
        by_id["24100000000000003"].text == "[voice message]"
        and by_id["24100000000000003"].attachments[0].content_type == "audio/speex"
    )
    location = by_id["24100000000000004"]
    assert "上海市黄浦区人民广场" in location.text and location.meta["location"]["latitude"] == "31.230416"
    assert "https://pay.example.com/tx/88231" in by_id["24100000000000005"].text


async def test_events_dedupe_on_sender_and_time_and_noise_is_dropped(client: TestClient, store: Store) -> None:
    created = int(time.time()) - 10
    subscribe = push("event", created=created, Event="subscribe", EventKey="")
    assert await post(client, subscribe) == "success"
    assert await post(client, subscribe) == "success"
    await post(client, push("event", created=created, Event="CLICK", EventKey="CONTACT_SUPPORT"))
    await post(client, push("event", created=created + 1, Event="unsubscribe"))
    await post(
        client, push("event", created=created + 2, Event="LOCATION", Latitude="23.137466", Longitude="113.352425")
    )
    events = await stored(store)
    assert [m.meta["event"] for m in events] == ["subscribe", "CLICK"]
    assert all(m.flags == ["event"] for m in events)
    assert events[0].external_id == f"event:{OPENID}:{created}:subscribe"
    assert events[1].meta["event_key"] == "CONTACT_SUPPORT"
    assert [m.text for m in events] == ["[followed the account]", "[menu: CONTACT_SUPPORT]"]
    [conv] = await conversations_of(store, f"wechat:{OPENID}")
    assert conv.routing_version == 0  # events open the reply window but are not work
    metrics = await (await client.get("/metrics")).text()
    for name in ("event_unsubscribe", "event_location"):
        assert f'gateway_inbound_ignored_total{{channel="wechat",kind="{name}"}}' in metrics


async def test_hostile_or_broken_xml_is_refused_cleanly(client: TestClient) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode() for i in range(1, 10)
        )
        + b"]><xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>"
        + b"<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<xml><Content>&xxe;</Content></xml>"
    )
    for body, code in (
        (laughs, "forbidden_xml"),
        (external, "forbidden_xml"),
        (b"<xml><Content>unclosed", "malformed_xml"),
    ):
        started = time.monotonic()
        resp = await client.post("/webhooks/wechat", params=signed_query(), data=body)
        assert resp.status == 400 and (await resp.json())["error"]["code"] == code
        assert time.monotonic() - started < 2
    missing = push("text", Content="no id")  # a message without MsgId
    assert (await client.post("/webhooks/wechat", params=signed_query(), data=missing)).status == 422
    no_sender = b"<xml><ToUserName>gh</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>"
    assert (await client.post("/webhooks/wechat", params=signed_query(), data=no_sender)).status == 422


async def test_safe_mode_without_a_key_is_501_and_compatible_mode_reads_the_plaintext(
    client: TestClient, store: Store
) -> None:
    encrypted = (
        b"<xml><ToUserName><![CDATA[gh_3a1b2c4d5e6f]]></ToUserName><Encrypt><![CDATA[bXkgc2VjcmV0]]></Encrypt></xml>"
    )
    query = signed_query(encrypt_type="aes", msg_signature="0123abcd")
    resp = await client.post("/webhooks/wechat", params=query, data=encrypted)
    error = (await resp.json())["error"]
    assert resp.status == 501 and error["code"] == "encrypted_mode_unsupported"
    assert "encoding_aes_key" in error["message"]
    compatible = push("text", Content="兼容模式", MsgId="24100000000000077", Encrypt="bXkgc2VjcmV0")
    assert await post(client, compatible, encrypt_type="aes", msg_signature="0123abcd") == "success"
    assert [m.text for m in await stored(store)] == ["兼容模式"]


AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # 43 characters, as the admin page shows it


@pytest.fixture
async def safe_client(aiohttp_client: Any, store: Store, wechat_api: tuple[FakeWeChat, str]) -> TestClient:
    settings = {"token": TOKEN, "app_id": APP_ID, "app_secret": APP_SECRET, "api_base_url": wechat_api[1]}
    return await gateway(aiohttp_client, store, wechat={**settings, "encoding_aes_key": AES_KEY})


def encrypted_push(body: bytes, *, app_id: str = APP_ID) -> tuple[bytes, dict[str, str]]:
    """A safe-mode push as WeChat sends it: only ``<Encrypt>`` in the body, and the
    query with both ``signature`` and ``msg_signature``."""
    encrypted = WeChatCrypto(token=TOKEN, encoding_aes_key=AES_KEY, app_id=app_id).encrypt(body)
    query = signed_query(encrypt_type="aes", openid=OPENID)
    query["msg_signature"] = msg_signature(TOKEN, query["timestamp"], query["nonce"], encrypted)
    xml = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return xml.encode(), query


async def test_safe_mode_pushes_are_verified_decrypted_and_stored_once(safe_client: TestClient, store: Store) -> None:
    body, query = encrypted_push(
        push("text", Content="我的卡 4111 1111 1111 1111 付款失败了", MsgId="24100000000000101")
    )
    answers = await asyncio.gather(*[safe_client.post("/webhooks/wechat", params=query, data=body) for _ in range(2)])
    assert [(r.status, await r.text()) for r in answers] == [(200, "success"), (200, "success")]
    messages = await stored(store)
    assert [m.text for m in messages] == ["我的卡 **** **** **** 1111 付款失败了"]
    # An event in safe mode opens the window like a plaintext one.
    body, query = encrypted_push(push("event", Event="subscribe"))
    assert (await safe_client.post("/webhooks/wechat", params=query, data=body)).status == 200
    assert len(await stored(store)) == 2


async def test_safe_mode_refusals_store_nothing(safe_client: TestClient, store: Store) -> None:
    body, query = encrypted_push(push("text", Content="退款", MsgId="24100000000000102"))
    forged = {**query, "msg_signature": "0" * 40}
    resp = await safe_client.post("/webhooks/wechat", params=forged, data=body)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "bad_signature"
    unsigned = {k: v for k, v in query.items() if k != "msg_signature"}
    assert (await safe_client.post("/webhooks/wechat", params=unsigned, data=body)).status == 401
    body, query = encrypted_push(push("text", Content="退款", MsgId="24100000000000103"), app_id="wx0000000000000000")
    resp = await safe_client.post("/webhooks/wechat", params=query, data=body)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "wrong_app_id"
    garbage = "QUJD" * 11  # base64 of 33 bytes: not whole AES blocks
    query = signed_query(encrypt_type="aes")
    query["msg_signature"] = msg_signature(TOKEN, query["timestamp"], query["nonce"], garbage)
    xml = f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>".encode()
    resp = await safe_client.post("/webhooks/wechat", params=query, data=xml)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "undecryptable"
    # Decrypted, but not a push: the same 400/422 as a plaintext body.
    body, query = encrypted_push(b"<xml><ToUserName>gh</ToUserName>")
    assert (await safe_client.post("/webhooks/wechat", params=query, data=body)).status == 400
    body, query = encrypted_push(b"<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType></xml>")
    assert (await safe_client.post("/webhooks/wechat", params=query, data=body)).status == 422
    assert await stored(store) == []


async def test_with_a_key_compatible_mode_trusts_only_the_encrypted_copy(safe_client: TestClient, store: Store) -> None:
    inner = push("text", Content="账户被冻结", MsgId="24100000000000104")
    body, query = encrypted_push(inner)
    encrypt = body.decode().split("<Encrypt>", 1)[1]
    tampered = push("text", Content="改过的明文", MsgId="24100000000000104").decode().replace("</xml>", "")
    compatible = f"{tampered}<Encrypt>{encrypt}".encode()
    assert (await safe_client.post("/webhooks/wechat", params=query, data=compatible)).status == 200
    assert [m.text for m in await stored(store)] == ["账户被冻结"]
    # The server-URL check is the same in every mode: signature, echostr back.
    resp = await safe_client.get("/webhooks/wechat", params=signed_query(echostr="9876543210"))
    assert resp.status == 200 and await resp.text() == "9876543210"


async def _status(store: Store, cid: str, mid: str) -> str | None:
    return (await message_status(store, cid, mid))[0]


async def _eq(awaitable: Any, value: Any) -> bool:
    return (await awaitable) == value


async def test_replies_share_one_access_token_and_refetch_it_when_refused(
    client: TestClient, store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = wechat_api
    await post(client, push("text", Content="我的红包没到账", MsgId="24100000000000100"))
    [conv] = await conversations_of(store, f"wechat:{OPENID}")
    ids = []
    for text in ("您好，正在查询", "请提供订单号", "已为您处理"):
        status, message = await reply(client, conv.id, {"text": text})
        assert status == 202
        ids.append(message["id"])
        await eventually(lambda mid=message["id"]: _eq(_status(store, conv.id, mid), "sent"))
    sends = fake.to("/cgi-bin/message/custom/send")
    assert len(fake.to("/cgi-bin/token")) == 1
    assert [s.query["access_token"] for s in sends] == ["ACCESS_TOKEN_1"] * 3
    assert sends[0].json == {"touser": OPENID, "msgtype": "text", "text": {"content": "您好，正在查询"}}
    assert "您好".encode() in sends[0].body  # sent as UTF-8, not \u escapes

    fake.revoke_all()  # e.g. the token was refreshed elsewhere: WeChat answers 40001
    _, after = await reply(client, conv.id, {"text": "还有其他问题吗？"})
    await eventually(lambda: _eq(_status(store, conv.id, after["id"]), "sent"))
    assert len(fake.to("/cgi-bin/token")) == 2
    assert fake.to("/cgi-bin/message/custom/send")[-1].query["access_token"] == "ACCESS_TOKEN_2"


async def test_an_out_of_window_error_fails_at_once(
    client: TestClient, store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = wechat_api
    refused = {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled hint: [x1]"}
    fake.script("/cgi-bin/message/custom/send", (200, refused))
    await post(client, push("text", Content="hi", MsgId="24100000000000200"))
    [conv] = await conversations_of(store, f"wechat:{OPENID}")
    _, message = await reply(client, conv.id, {"text": "抱歉"})
    await eventually(lambda: _eq(_status(store, conv.id, message["id"]), "failed"))
    _, error = await message_status(store, conv.id, message["id"])
    assert error is not None and error.startswith("wechat error 45015") and "48-hour" in error
    assert len(fake.to("/cgi-bin/message/custom/send")) == 1


async def test_the_48_hour_window_refuses_free_text_after_it(client: TestClient, store: Store) -> None:
    await post(client, push("text", Content="旧消息", MsgId="24100000000000300", created=int(time.time()) - 49 * 3600))
    other = "oR5Gjjl_second_customer_0001"
    await post(
        client,
        push(
            "text", sender=other, Content="较新的消息", MsgId="24100000000000301", created=int(time.time()) - 47 * 3600
        ),
    )
    [old] = await conversations_of(store, f"wechat:{OPENID}")
    [recent] = await conversations_of(store, f"wechat:{other}")
    status, body = await reply(client, old.id, {"text": "抱歉回复晚了"})
    assert status == 409 and body["error"]["code"] == "window_closed"
    assert (await reply(client, recent.id, {"text": "您好"}))[0] == 202
    status, body = await reply(client, recent.id, {"template": {"name": "x", "params": []}})
    assert status == 422  # WeChat has no templates in this gateway


async def test_the_token_cache_fetches_once_refreshes_before_expiry_and_after_invalidation(
    store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    _, base = wechat_api
    now = [1000.0]
    tokens = AccessTokens(api_base_url=base, app_id=APP_ID, app_secret=APP_SECRET, shared=store, clock=lambda: now[0])
    async with aiohttp.ClientSession() as http:
        got = await asyncio.gather(*(tokens.get(http) for _ in range(5)))
        assert got == ["ACCESS_TOKEN_1"] * 5 and tokens.fetches == 1
        now[0] += 7200 - 301  # still inside the lifetime less the 5-minute margin
        assert await tokens.get(http) == "ACCESS_TOKEN_1"
        now[0] += 2
        assert await tokens.get(http) == "ACCESS_TOKEN_2"
        await tokens.invalidate("ACCESS_TOKEN_1")  # a stale refusal does not drop the newer token
        assert await tokens.get(http) == "ACCESS_TOKEN_2"
        await tokens.invalidate("ACCESS_TOKEN_2")
        assert await tokens.get(http) == "ACCESS_TOKEN_3" and tokens.fetches == 3
    assert APP_SECRET not in repr(tokens) and "ACCESS_TOKEN" not in repr(tokens)


async def test_a_token_fetch_refused_for_the_ip_whitelist_fails_the_reply_with_that_reason(
    client: TestClient, store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, _ = wechat_api
    fake.script("/cgi-bin/token", (200, {"errcode": 40164, "errmsg": "invalid ip 203.0.113.7, not in whitelist"}))
    await post(client, push("text", Content="hi", MsgId="24100000000000400"))
    [conv] = await conversations_of(store, f"wechat:{OPENID}")
    _, message = await reply(client, conv.id, {"text": "您好"})
    await eventually(lambda: _eq(_status(store, conv.id, message["id"]), "failed"))
    _, error = await message_status(store, conv.id, message["id"])
    assert error is not None and "40164" in error and "whitelist" in error
    assert fake.to("/cgi-bin/message/custom/send") == []


# Several gateway processes: each has its own WeChatChannel (and AccessTokens) and HTTP
# session; what they share is the store, as real processes share Redis.


class _SendOnly:
    """The sink of a channel these tests only send with."""

    async def accept(self, message: InboundMessage) -> IngestResult:
        raise AssertionError("no inbound message expected")

    async def accept_status(self, update: StatusUpdate) -> bool:
        raise AssertionError("no status update expected")


class _Outage:
    """Shared values over the test's store, with chosen methods failing as they do while
    Redis is unreachable."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down: set[str] = set()

    def _check(self, method: str) -> None:
        if method in self.down:
            raise StorageUnavailable("redis unavailable: ConnectionError")

    async def shared_get(self, key: str) -> str | None:
        self._check("shared_get")
        return await self.store.shared_get(key)

    async def shared_set(self, key: str, value: str, *, ttl_ms: int) -> None:
        self._check("shared_set")
        await self.store.shared_set(key, value, ttl_ms=ttl_ms)

    async def shared_set_if_absent(self, key: str, value: str, *, ttl_ms: int) -> bool:
        self._check("shared_set_if_absent")
        return await self.store.shared_set_if_absent(key, value, ttl_ms=ttl_ms)

    async def shared_delete_if(self, key: str, value: str) -> bool:
        self._check("shared_delete_if")
        return await self.store.shared_delete_if(key, value)


_sent = iter(range(1, 1_000_000))


def outbound(text: str) -> OutboundRequest:
    now = datetime.now(UTC)
    message = Message(
        id=f"msg_out_{next(_sent)}",
        conversation_id="cv_wechat_1",
        direction=Direction.OUTBOUND,
        channel=Channel.WECHAT,
        sender=Sender(kind="agent", id="alice"),
        text=text,
        received_at=now,
    )
    conversation = Conversation(
        id="cv_wechat_1",
        contact_id="ct_wechat_1",
        channel=Channel.WECHAT,
        endpoint=ACCOUNT,
        created_at=now,
        updated_at=now,
    )
    return OutboundRequest(
        message=message, conversation=conversation, recipient=Identity(kind=IdentityKind.WECHAT, value=OPENID)
    )


def tokens_used(fake: FakeWeChat) -> list[str]:
    return [s.query["access_token"] for s in fake.to("/cgi-bin/message/custom/send")]


@asynccontextmanager
async def processes(base: str, shared: Any, count: int = 2) -> AsyncIterator[list[WeChatChannel]]:
    """``count`` gateway processes' WeChat channels, started, sharing ``shared``."""
    sessions = [aiohttp.ClientSession() for _ in range(count)]
    channels = []
    try:
        for http in sessions:
            channel = WeChatChannel(
                _SendOnly(), token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET, api_base_url=base, shared=shared
            )
            await channel.start(http)
            channels.append(channel)
        yield channels
    finally:
        for http in sessions:
            await http.close()


def token_cache(base: str, store: Any, **settings: Any) -> AccessTokens:
    return AccessTokens(api_base_url=base, app_id=APP_ID, app_secret=APP_SECRET, shared=store, **settings)


async def test_processes_sharing_storage_fetch_one_token_even_when_asking_at_once(
    store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, base = wechat_api
    fake.token_delay = 0.3  # every process asks while the first fetch is under way
    now = [1000.0]
    caches = [token_cache(base, store, clock=lambda: now[0]) for _ in range(4)]
    async with aiohttp.ClientSession() as http:
        got = await asyncio.gather(*(cache.get(http) for cache in caches for _ in range(3)))
        assert got == ["ACCESS_TOKEN_1"] * 12
        assert len(fake.to("/cgi-bin/token")) == 1 and sum(c.fetches for c in caches) == 1
        late = token_cache(base, store, clock=lambda: now[0])  # a process started later
        assert await late.get(http) == "ACCESS_TOKEN_1" and late.fetches == 0
        now[0] += 7200 - 299  # inside the 5-minute margin: due for a refresh everywhere at once
        got = await asyncio.gather(*(cache.get(http) for cache in [*caches, late]))
        assert got == ["ACCESS_TOKEN_2"] * 5
        assert len(fake.to("/cgi-bin/token")) == 2
    assert await store.shared_get(late.lock_key) is None  # the fetch lease was given back


async def test_a_refused_token_is_refetched_once_and_the_other_process_follows_without_fetching(
    store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, base = wechat_api
    async with processes(base, store) as (a, b):
        assert (await a.send(outbound("您好，正在查询"))).ok
        assert (await b.send(outbound("请提供订单号"))).ok
        assert tokens_used(fake) == ["ACCESS_TOKEN_1"] * 2 and len(fake.to("/cgi-bin/token")) == 1

        fake.revoke_all()  # WeChat now answers 40001 to ACCESS_TOKEN_1
        assert (await a.send(outbound("已为您处理"))).ok
        assert tokens_used(fake)[2:] == ["ACCESS_TOKEN_1", "ACCESS_TOKEN_2"]
        assert (await b.send(outbound("还有其他问题吗？"))).ok
        assert tokens_used(fake)[4:] == ["ACCESS_TOKEN_2"]  # straight to the new token
        assert len(fake.to("/cgi-bin/token")) == 2
        assert (a.tokens.fetches, b.tokens.fetches) == (2, 0)


async def test_processes_refused_at_the_same_time_fetch_one_new_token(
    store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, base = wechat_api
    async with processes(base, store, count=3) as channels:
        assert all([(await c.send(outbound("您好"))).ok for c in channels])
        fake.revoke_all()
        fake.token_delay = 0.2
        results = await asyncio.gather(*(c.send(outbound(f"第{i}条")) for c in channels for i in range(2)))
        assert all(r.ok for r in results), results
        assert len(fake.to("/cgi-bin/token")) == 2
        assert tokens_used(fake)[-6:] == ["ACCESS_TOKEN_2"] * 6
        assert sum(c.tokens.fetches for c in channels) == 2


async def test_a_late_refusal_of_an_old_token_does_not_drop_the_newer_one(
    store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, base = wechat_api
    a, b = token_cache(base, store), token_cache(base, store)
    async with aiohttp.ClientSession() as http:
        assert await a.get(http) == "ACCESS_TOKEN_1" and await b.get(http) == "ACCESS_TOKEN_1"
        await a.invalidate("ACCESS_TOKEN_1")
        assert await a.get(http) == "ACCESS_TOKEN_2"
        newer = await store.shared_get(a.key)
        assert newer is not None and "ACCESS_TOKEN_2" in newer
        await b.invalidate("ACCESS_TOKEN_1")  # b's send with the old token was refused just now
        assert await store.shared_get(b.key) == newer
        assert await b.get(http) == "ACCESS_TOKEN_2"
    assert (a.fetches, b.fetches) == (2, 0) and len(fake.to("/cgi-bin/token")) == 2


async def test_a_dead_fetchers_lease_runs_out_and_a_waiting_process_fetches(
    store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, base = wechat_api
    tokens = token_cache(base, store)
    assert await store.shared_set_if_absent(tokens.lock_key, "crashed-process", ttl_ms=400)
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        assert await tokens.get(http) == "ACCESS_TOKEN_1"
    assert time.monotonic() - started >= 0.3
    assert tokens.fetches == 1 and len(fake.to("/cgi-bin/token")) == 1


async def test_a_fetch_that_never_finishes_elsewhere_gives_a_retryable_refusal(
    store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, base = wechat_api
    tokens = token_cache(base, store, lease=0.2, fetch_timeout=0.05)
    assert await store.shared_set_if_absent(tokens.lock_key, "stuck-process", ttl_ms=30_000)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TokenUnavailable) as caught:
            await tokens.get(http)
    assert caught.value.retryable and "another gateway process" in str(caught.value)
    assert fake.to("/cgi-bin/token") == []


async def test_a_reply_while_storage_is_down_is_retried_later_and_fetches_nothing(
    wechat_api: tuple[FakeWeChat, str],
) -> None:
    fake, base = wechat_api
    dead = RedisStore("redis://127.0.0.1:1/0", socket_timeout=0.5)
    try:
        async with processes(base, dead, count=1) as (channel,):
            result = await channel.send(outbound("您好"))
    finally:
        await dead.close()
    assert not result.ok and result.retryable
    assert result.error is not None and "unavailable" in result.error
    assert fake.to("/cgi-bin/token") == [] and fake.to("/cgi-bin/message/custom/send") == []


async def test_storage_failing_while_a_refused_token_is_dropped_makes_the_reply_retryable(
    store: Store, wechat_api: tuple[FakeWeChat, str]
) -> None:
    fake, base = wechat_api
    shared = _Outage(store)
    async with processes(base, shared, count=1) as (channel,):
        assert (await channel.send(outbound("您好"))).ok
        fake.revoke_all()
        shared.down = {"shared_delete_if"}
        result = await channel.send(outbound("请稍等"))
        assert not result.ok and result.retryable and "unavailable" in (result.error or "")
        shared.down = {"shared_set"}  # fetched, but no other process could see it: not used
        result = await channel.send(outbound("请稍等"))
        assert not result.ok and result.retryable
        shared.down = set()
        assert (await channel.send(outbound("请稍等"))).ok
        assert tokens_used(fake)[-1] == "ACCESS_TOKEN_3"
