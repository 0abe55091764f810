"""Fuzzing every channel's parser through its webhook, with valid signatures.

Random bytes would stop at the signature check; here every body is signed as its
provider would sign it, so the parser behind it sees realistic payloads with leaves and
subtrees replaced by random values, keys dropped, and odd types. Whatever arrives, the
answer is never a 5xx.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from tests.helpers import gateway_config

pytestmark = pytest.mark.fault

SECRETS = {
    "api": "fuzz-api-secret-0123",
    "twilio": "fuzz-twilio-token",
    "meta": "fuzz-meta-app-secret",
    "telegram": "fuzz-telegram-secret",
    "wechat": "fuzz-wechat-token",
}
CHANNELS = {
    "api": {"secret": SECRETS["api"]},
    "twilio": {"account_sid": "AC" + "3" * 32, "auth_token": SECRETS["twilio"]},
    "whatsapp": {
        "app_secret": SECRETS["meta"],
        "verify_token": "v-fuzz-1-0123456",
        "access_token": "a-fuzz-1",
        "phone_number_id": "106",
    },
    "messenger": {"app_secret": SECRETS["meta"], "verify_token": "v-fuzz-2-0123456", "page_access_token": "p-fuzz-2"},
    "instagram": {"app_secret": SECRETS["meta"], "verify_token": "v-fuzz-3-0123456", "access_token": "a-fuzz-3"},
    "telegram": {"bot_token": "9:fuzz-bot-token", "secret_token": SECRETS["telegram"]},
    "wechat": {"token": SECRETS["wechat"], "app_id": "wxfuzz", "app_secret": "fuzz-wechat-app"},
}
PUBLIC = "http://127.0.0.1:8080"

API_SAMPLE = {
    "id": "m1",
    "from": {"id": "u1", "name": "王", "email": "a@b.cn", "phone": "+8613800138000"},
    "text": "付款失败",
    "attributes": {"tier": "vip"},
}
WHATSAPP_SAMPLE = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "1",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106"},
                        "contacts": [{"profile": {"name": "李"}, "wa_id": "8613800138000"}],
                        "messages": [
                            {"from": "8613800138000", "id": "wamid.1", "timestamp": "1800000000", "type": "text", "text": {"body": "退款"}},
                            {"from": "8613800138000", "id": "wamid.2", "timestamp": "1800000001", "type": "image",
                             "image": {"id": "m1", "mime_type": "image/jpeg", "caption": "截图"}, "context": {"id": "wamid.0"}},
                        ],
                        "statuses": [{"id": "wamid.9", "status": "failed", "timestamp": "1800000002",
                                      "errors": [{"code": 131047, "title": "Re-engagement"}]}],
                    },
                }
            ],
        }
    ],
}  # fmt: skip
MESSENGER_SAMPLE = {
    "object": "page",
    "entry": [
        {
            "id": "p1",
            "time": 1800000000000,
            "messaging": [
                {"sender": {"id": "psid1"}, "recipient": {"id": "p1"}, "timestamp": 1800000000000,
                 "message": {"mid": "mid.1", "text": "账户被锁", "attachments": [{"type": "image", "payload": {"url": "https://x/y.png"}}]}},
                {"sender": {"id": "psid1"}, "recipient": {"id": "p1"}, "delivery": {"mids": ["mid.0"], "watermark": 1}},
                {"sender": {"id": "p1"}, "recipient": {"id": "psid1"}, "message": {"mid": "mid.e", "is_echo": True, "text": "x"}},
            ],
        }
    ],
}  # fmt: skip
TELEGRAM_SAMPLE = {
    "update_id": 10,
    "message": {
        "message_id": 5,
        "date": 1800000000,
        "chat": {"id": 42, "type": "private"},
        "from": {"id": 42, "first_name": "Li", "language_code": "zh-hans"},
        "text": "密码重置",
        "photo": [{"file_id": "f1", "width": 10, "height": 10}, {"file_id": "f2", "width": 90, "height": 90}],
        "caption": "截图",
    },
}
TWILIO_SAMPLE = {
    "MessageSid": "SM1",
    "AccountSid": "AC" + "3" * 32,
    "From": "+8613800138000",
    "To": "+15550001111",
    "Body": "付款失败",
    "NumMedia": "1",
    "MediaUrl0": "https://api.twilio.com/x",
    "MediaContentType0": "image/jpeg",
}
WECHAT_SAMPLE = (
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[openid1]]></FromUserName>"
    "<CreateTime>1800000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[退款进度]]></Content><MsgId>1234567890123456</MsgId></xml>"
)

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", "0", "-1", "付款", "🙂", "x" * 5000, "\u0000", "1" * 19]),
)
values = st.recursive(
    leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8
)


@st.composite
def mutated(draw: Any, sample: Any) -> Any:
    """The sample with a few paths replaced by random values or removed."""
    doc = copy.deepcopy(sample)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        node, parent, key = doc, None, None
        for _depth in range(draw(st.integers(min_value=0, max_value=8))):
            if isinstance(node, dict) and node:
                k = draw(st.sampled_from(sorted(node, key=str)))
            elif isinstance(node, list) and node:
                k = draw(st.integers(min_value=0, max_value=len(node) - 1))
            else:
                break
            parent, key, node = node, k, node[k]
        if parent is None:
            return draw(values) if draw(st.booleans()) else doc
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(values)
    return doc


@pytest.fixture(scope="module")
def fuzz() -> Iterator[tuple[asyncio.AbstractEventLoop, TestClient]]:
    loop = asyncio.new_event_loop()
    config = gateway_config(channels=CHANNELS, http={"public_url": PUBLIC})
    app = build_app(config, store=MemoryStore(), publisher=MemoryPublisher())
    client = TestClient(TestServer(app), loop=loop)
    loop.run_until_complete(client.start_server())
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()


def post(fuzz: tuple[asyncio.AbstractEventLoop, TestClient], path: str, body: bytes, headers: dict[str, str]) -> int:
    loop, client = fuzz

    async def go() -> int:
        resp = await client.post(path, data=body, headers=headers)
        await resp.read()
        return resp.status

    return loop.run_until_complete(go())


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def meta_headers(body: bytes) -> dict[str, str]:
    sig = "sha256=" + hmac.new(SECRETS["meta"].encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": sig, "Content-Type": "application/json"}


@FUZZ
@given(payload=mutated(API_SAMPLE))
def test_api_channel(fuzz, payload) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(payload, ensure_ascii=False).encode()
    sig = "sha256=" + hmac.new(SECRETS["api"].encode(), body, hashlib.sha256).hexdigest()
    assert post(fuzz, "/webhooks/api", body, {"X-Gateway-Signature": sig}) < 500


@FUZZ
@given(payload=mutated(WHATSAPP_SAMPLE))
def test_whatsapp(fuzz, payload) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    assert post(fuzz, "/webhooks/whatsapp", body, meta_headers(body)) < 500


@FUZZ
@given(payload=mutated(MESSENGER_SAMPLE), path=st.sampled_from(["/webhooks/messenger", "/webhooks/instagram"]))
def test_messenger_and_instagram(fuzz, payload, path) -> None:  # type: ignore[no-untyped-def]
    if path.endswith("instagram") and isinstance(payload, dict) and "object" in payload:
        payload["object"] = "instagram"
    body = json.dumps(payload).encode()
    assert post(fuzz, path, body, meta_headers(body)) < 500


@FUZZ
@given(payload=mutated(TELEGRAM_SAMPLE))
def test_telegram(fuzz, payload) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRETS["telegram"], "Content-Type": "application/json"}
    assert post(fuzz, "/webhooks/telegram", body, headers) < 500


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from([*TWILIO_SAMPLE, "NumMedia", "MediaUrl1", "OptOutType", "CallSid", "Digits", "SpeechResult"]),
        st.text(max_size=30) | st.sampled_from(["", "99", "-3", "abc", "+1", "whatsapp:+8613800138000"]),
        max_size=10,
    ),
    path=st.sampled_from(
        ["/webhooks/twilio/sms", "/webhooks/twilio/status", "/webhooks/twilio/voice", "/webhooks/twilio/voice/menu",
         "/webhooks/twilio/voice/recording", "/webhooks/twilio/voice/transcription", "/webhooks/twilio/voice/status"]
    ),
)  # fmt: skip
def test_twilio(fuzz, params, path) -> None:  # type: ignore[no-untyped-def]
    params = {**TWILIO_SAMPLE, **params} if path.endswith("/sms") else params
    params = {k: v for k, v in params.items() if "\x00" not in v}
    signed = PUBLIC + path + "".join(k + params[k] for k in sorted(params))
    sig = base64.b64encode(hmac.new(SECRETS["twilio"].encode(), signed.encode(), hashlib.sha1).digest()).decode()
    headers = {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}
    assert post(fuzz, path, urlencode(params).encode(), headers) < 500


@FUZZ
@given(
    content=st.text(max_size=60),
    msg_type=st.sampled_from(["text", "image", "voice", "event", "location", "link", "video", "", "<x>"]),
    mangle=st.sampled_from(["none", "truncate", "drop_msgid", "bad_time", "nested"]),
)
def test_wechat(fuzz, content, msg_type, mangle) -> None:  # type: ignore[no-untyped-def]
    xml = WECHAT_SAMPLE.replace("退款进度", content.replace("]]>", "")).replace("[CDATA[text]]", f"[CDATA[{msg_type}]]")
    if mangle == "truncate":
        xml = xml[: len(xml) // 2]
    elif mangle == "drop_msgid":
        xml = xml.replace("<MsgId>1234567890123456</MsgId>", "")
    elif mangle == "bad_time":
        xml = xml.replace("1800000000", "soon")
    elif mangle == "nested":
        xml = xml.replace("<Content>", "<Content><xml><a>1</a></xml>")
    timestamp, nonce = "1800000000", "n0nce"
    signature = hashlib.sha1("".join(sorted([SECRETS["wechat"], timestamp, nonce])).encode()).hexdigest()
    path = f"/webhooks/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}"
    assert post(fuzz, path, xml.encode(), {"Content-Type": "text/xml"}) < 500


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.binary(max_size=2000), path=st.sampled_from(["/webhooks/api", "/webhooks/whatsapp", "/webhooks/telegram"])
)
def test_random_bytes_with_valid_signatures(fuzz, raw, path) -> None:  # type: ignore[no-untyped-def]
    if path == "/webhooks/api":
        headers = {
            "X-Gateway-Signature": "sha256=" + hmac.new(SECRETS["api"].encode(), raw, hashlib.sha256).hexdigest()
        }
    elif path == "/webhooks/whatsapp":
        headers = meta_headers(raw)
    else:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRETS["telegram"]}
    assert post(fuzz, path, raw, headers) < 500
