"""The shape every webhook channel shares.

Every webhook path answers alike: 401 when the signature (or shared secret) is missing,
403 when it is there but wrong — and either way nothing is stored. One gateway with
every webhook channel on; each case is a request as the provider would send it, once
without its signature and once with a wrong one.

And a reply handed to a channel before it has started is a retryable failure, never a
crash: the outbound service tries it again later.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.channels.wechat.crypto import WeChatCrypto, msg_signature
from gateway.model import Conversation, Direction, Identity, IdentityKind, Message, OutboundRequest, Sender
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from gateway.wiring.channel_setup import build_adapters
from tests.helpers import auth, gateway_config

WECHAT_TOKEN = "sig-wechat-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CHANNELS = {
    "api": {"secret": "sig-api-secret-0"},
    "twilio": {"account_sid": "AC" + "5" * 32, "auth_token": "sig-twilio-token"},
    "whatsapp": {
        "app_secret": "sig-meta-secret-",
        "verify_token": "sig-verify-wa-01",
        "access_token": "sig-access",
        "phone_number_id": "106",
    },
    "messenger": {
        "app_secret": "sig-meta-secret-",
        "verify_token": "sig-verify-fb-01",
        "page_access_token": "sig-page",
    },
    "instagram": {"app_secret": "sig-meta-secret-", "verify_token": "sig-verify-ig-01", "access_token": "sig-ig"},
    "telegram": {"bot_token": "9:sig-bot-token", "secret_token": "sig-telegram-secret"},
    "wechat": {
        "token": WECHAT_TOKEN,
        "app_id": "wxsig0000000000",
        "app_secret": "sig-wechat-app",
        "encoding_aes_key": AES_KEY,
    },
}
TWILIO_PATHS = [
    "/webhooks/twilio/sms",
    "/webhooks/twilio/status",
    "/webhooks/twilio/voice",
    "/webhooks/twilio/voice/menu",
    "/webhooks/twilio/voice/recording",
    "/webhooks/twilio/voice/recording-status",
    "/webhooks/twilio/voice/transcription",
    "/webhooks/twilio/voice/status",
]
TWILIO_FORM = {
    "MessageSid": "SM" + "1" * 32,
    "CallSid": "CA" + "1" * 32,
    "From": "+8613800138000",
    "To": "+15550001111",
    "Body": "付款失败",
    "Digits": "1",
}
META_OBJECTS = {"whatsapp": "whatsapp_business_account", "messenger": "page", "instagram": "instagram"}


@dataclass
class Case:
    """One webhook request: its path, method, body and query, and the signature that goes
    in ``header`` (or query parameter ``param``) — left out, or replaced by ``wrong``."""

    method: str
    path: str
    wrong: str
    header: str | None = None
    param: str | None = None
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, signature: str | None) -> dict[str, Any]:
        headers, query = dict(self.headers), dict(self.query)
        if signature is not None and self.header:
            headers[self.header] = signature
        if signature is not None and self.param:
            query[self.param] = signature
        return {"method": self.method, "path": self.path, "data": self.body, "headers": headers, "params": query}


def wechat_query(**extra: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), "20260301"
    signature = hashlib.sha1("".join(sorted([WECHAT_TOKEN, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def wechat_push() -> bytes:
    return (
        "<xml><ToUserName>gh_sig</ToUserName><FromUserName>oSig000</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType>"
        "<Content>退款</Content><MsgId>24000000000000001</MsgId></xml>"
    ).encode()


def safe_mode_push() -> Case:
    """A safe-mode push whose ``signature`` is right: only ``msg_signature`` is at stake."""
    encrypted = WeChatCrypto(token=WECHAT_TOKEN, encoding_aes_key=AES_KEY, app_id="wxsig0000000000").encrypt(
        wechat_push()
    )
    body = f"<xml><ToUserName>gh_sig</ToUserName><Encrypt>{encrypted}</Encrypt></xml>".encode()
    query = wechat_query(encrypt_type="aes")
    assert msg_signature(WECHAT_TOKEN, query["timestamp"], query["nonce"], encrypted) != "0" * 40
    return Case("POST", "/webhooks/wechat", "0" * 40, param="msg_signature", body=body, query=query)


CASES: dict[str, Callable[[], Case]] = {
    "api": lambda: Case(
        "POST",
        "/webhooks/api",
        "sha256=" + "0" * 64,
        header="X-Gateway-Signature",
        body=json.dumps({"id": "sig-1", "from": {"id": "u1"}, "text": "付款失败"}).encode(),
    ),
    **{
        f"twilio {path.removeprefix('/webhooks/twilio/')}": (
            lambda path=path: Case(
                "POST",
                path,
                "bm90IGEgc2lnbmF0dXJl",
                header="X-Twilio-Signature",
                body="&".join(f"{k}={v}" for k, v in TWILIO_FORM.items()).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        )
        for path in TWILIO_PATHS
    },
    **{
        f"{name} delivery": (
            lambda name=name: Case(
                "POST",
                f"/webhooks/{name}",
                "sha256=" + "0" * 64,
                header="X-Hub-Signature-256",
                body=json.dumps({"object": META_OBJECTS[name], "entry": []}).encode(),
            )
        )
        for name in META_OBJECTS
    },
    **{
        f"{name} handshake": (
            lambda name=name: Case(
                "GET",
                f"/webhooks/{name}",
                "not-the-verify-token",
                param="hub.verify_token",
                query={"hub.mode": "subscribe", "hub.challenge": "1158201444"},
            )
        )
        for name in META_OBJECTS
    },
    "telegram": lambda: Case(
        "POST",
        "/webhooks/telegram",
        "not-the-secret",
        header="X-Telegram-Bot-Api-Secret-Token",
        body=json.dumps({"update_id": 1, "message": {"chat": {"id": 1, "type": "private"}, "text": "hi"}}).encode(),
    ),
    "wechat url check": lambda: Case(
        "GET",
        "/webhooks/wechat",
        "0" * 40,
        param="signature",
        query={k: v for k, v in wechat_query(echostr="6417839264915163711").items() if k != "signature"},
    ),
    "wechat push": lambda: Case(
        "POST",
        "/webhooks/wechat",
        "0" * 40,
        param="signature",
        body=wechat_push(),
        query={k: v for k, v in wechat_query().items() if k != "signature"},
    ),
    "wechat safe-mode push": safe_mode_push,
}


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient:
    config = gateway_config(channels=CHANNELS, http={"public_url": "https://support.example.com"})
    return await aiohttp_client(build_app(config, store=MemoryStore(), publisher=MemoryPublisher()))


async def nothing_stored(client: TestClient) -> bool:
    listing = await (await client.get("/api/v1/conversations", headers=auth())).json()
    return listing["conversations"] == []


@pytest.mark.parametrize("name", list(CASES))
async def test_a_missing_signature_is_401(client: TestClient, name: str) -> None:
    case = CASES[name]()
    resp = await client.request(**case.request(None))
    assert resp.status == 401, await resp.text()
    assert "unsigned" in await resp.text()
    assert await nothing_stored(client)


@pytest.mark.parametrize("name", list(CASES))
async def test_an_empty_signature_is_401(client: TestClient, name: str) -> None:
    case = CASES[name]()
    resp = await client.request(**case.request(""))
    assert resp.status == 401, await resp.text()
    assert await nothing_stored(client)


@pytest.mark.parametrize("name", list(CASES))
async def test_a_wrong_signature_is_403(client: TestClient, name: str) -> None:
    case = CASES[name]()
    resp = await client.request(**case.request(case.wrong))
    assert resp.status == 403, await resp.text()
    assert "bad_signature" in await resp.text()
    assert await nothing_stored(client)


RECIPIENTS = {
    "api": IdentityKind.API,
    "twilio": IdentityKind.PHONE,
    "whatsapp": IdentityKind.PHONE,
    "messenger": IdentityKind.MESSENGER,
    "instagram": IdentityKind.INSTAGRAM,
    "telegram": IdentityKind.TELEGRAM,
    "wechat": IdentityKind.WECHAT,
}


def reply_to(channel: Any, kind: IdentityKind) -> OutboundRequest:
    now = datetime.now(UTC)
    conversation = Conversation(
        id="cv_1", contact_id="ct_1", channel=channel, endpoint="106", created_at=now, updated_at=now
    )
    message = Message(
        id="msg_out_1",
        conversation_id="cv_1",
        direction=Direction.OUTBOUND,
        channel=channel,
        sender=Sender(kind="agent", id="alice"),
        text="您好，已为您处理",
        received_at=now,
    )
    value = "+8613800138000" if kind is IdentityKind.PHONE else "customer-1"
    return OutboundRequest(message=message, conversation=conversation, recipient=Identity(kind=kind, value=value))


@pytest.mark.parametrize("name", list(RECIPIENTS))
async def test_a_reply_before_the_channel_started_is_retried_later(name: str) -> None:
    channels = {**CHANNELS, "api": {**CHANNELS["api"], "callback_url": "http://127.0.0.1:9/replies"}}
    config = gateway_config(channels=channels)
    [adapter] = [a for a in build_adapters(config, sink=None, store=MemoryStore()) if a.name == name]  # type: ignore[arg-type]
    result = await adapter.send(reply_to(adapter.channels[0], RECIPIENTS[name]))
    assert not result.ok and result.retryable
    assert result.error == f"the {name} channel is not started yet"
