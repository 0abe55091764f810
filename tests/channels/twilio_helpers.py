"""Building blocks of the Twilio tests: a gateway with the channel on, requests signed
with the ``twilio`` package's own ``RequestValidator``, and a fake Twilio REST API as a
real local HTTP server."""

from __future__ import annotations

import base64
import itertools
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher, Publisher
from gateway.storage.base import Store
from tests.helpers import auth, gateway_config

ACCOUNT_SID = "AC" + "7e3c" * 8
AUTH_TOKEN = "twilio-auth-token-for-tests-51d0"
PUBLIC_URL = "https://support.example.com"
OUR_NUMBER = "+14155550100"
CUSTOMER = "+8613800138000"

_sids = itertools.count(1)


def sid(prefix: str) -> str:
    """A unique Twilio-shaped SID (34 characters) per call."""
    return f"{prefix}{next(_sids):032x}"


def twilio_section(**overrides: Any) -> dict[str, Any]:
    return {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, **overrides}


async def twilio_client(
    aiohttp_client: Any,
    store: Store,
    *,
    public_url: str = PUBLIC_URL,
    publisher: Publisher | None = None,
    default_queue: str = "general",
    clock: Callable[[], float] = time.time,
    **twilio: Any,
) -> TestClient:
    config = gateway_config(
        http={"public_url": public_url},
        routing={"rules": None, "default_queue": default_queue},
        channels={"api": {"secret": "test-api-secret-3f9a"}, "twilio": twilio_section(**twilio)},
    )
    return await aiohttp_client(build_app(config, store=store, publisher=publisher or MemoryPublisher(), clock=clock))


def sign(url: str, params: Any, *, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def form(params: list[tuple[str, str]] | dict[str, str]) -> tuple[bytes, MultiDict[str]]:
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    return urlencode(pairs).encode(), MultiDict(pairs)


async def post_signed(
    client: TestClient,
    url_or_path: str,
    params: list[tuple[str, str]] | dict[str, str],
    *,
    signed_url: str | None = None,
    token: str = AUTH_TOKEN,
) -> Any:
    """POST form ``params`` to a path (or one of our absolute callback URLs), signed as
    Twilio signs it: over ``signed_url`` (default: the public URL of that path)."""
    if url_or_path.startswith("http"):
        parts = urlsplit(url_or_path)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        url = url_or_path
    else:
        path, url = url_or_path, PUBLIC_URL + url_or_path
    body, fields = form(params)
    headers = {
        "X-Twilio-Signature": sign(signed_url or url, fields, token=token),
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
    }
    return await client.post(path, data=body, headers=headers)


def sms_params(
    message_sid: str | None = None,
    *,
    body: str = "你好，我的付款失败了，请帮忙查一下",
    sender: str = CUSTOMER,
    media: list[tuple[str, str]] | None = None,
    **extra: str,
) -> list[tuple[str, str]]:
    """An inbound SMS webhook as Twilio documents it (and a field it may add one day)."""
    media = media or []
    message_sid = message_sid or sid("SM")
    params = [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", message_sid),
        ("NumMedia", str(len(media))),
        ("ToCity", "SAN FRANCISCO"),
        ("FromCountry", "CN"),
        ("FromCity", "SHANGHAI"),
        ("SmsSid", message_sid),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", OUR_NUMBER),
        ("NumSegments", "1"),
        ("MessageSid", message_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]
    for n, (url, content_type) in enumerate(media):
        params += [(f"MediaUrl{n}", url), (f"MediaContentType{n}", content_type)]
    params += list(extra.items())
    return params


def call_params(call_sid: str, *, caller: str = CUSTOMER, **extra: str) -> list[tuple[str, str]]:
    """A voice webhook's standard fields; ``extra`` adds fields or replaces them."""
    standard = [
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", "in-progress"),
        ("Called", OUR_NUMBER),
        ("Caller", caller),
        ("Direction", "inbound"),
        ("From", caller),
        ("FromCountry", "CN"),
        ("To", OUR_NUMBER),
        ("ToCountry", "US"),
    ]
    return [(k, v) for k, v in standard if k not in extra] + list(extra.items())


def recording_url(recording_sid: str) -> str:
    return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"


def twiml(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return root


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/conversations/{cid}", headers=auth())
    assert resp.status == 200
    return await resp.json()


async def all_conversations(client: TestClient) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/conversations", headers=auth())
    return (await resp.json())["conversations"]


async def only_conversation(client: TestClient) -> dict[str, Any]:
    [listed] = await all_conversations(client)
    return await conversation(client, listed["id"])


class FakeTwilio:
    """Twilio's Messages resource, as a real local HTTP server. It records what it
    received and answers from a script (default: 201 with a fresh SM sid)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, MultiDictProxy[str]]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.sids: list[str] = []
        self.before_answer: Callable[[MultiDictProxy[str], str], Awaitable[None]] | None = None

    async def messages(self, request: web.Request) -> web.Response:
        assert request.match_info["account"] == ACCOUNT_SID
        fields = await request.post()
        self.received.append((request.headers.get("Authorization", ""), fields))  # type: ignore[arg-type]
        if self.answers:
            status, body = self.answers.pop(0)
            return web.json_response(body, status=status)
        message_sid = sid("SM")
        self.sids.append(message_sid)
        if self.before_answer is not None:
            await self.before_answer(fields, message_sid)  # type: ignore[arg-type]
        return web.json_response(
            {"sid": message_sid, "status": "queued", "account_sid": ACCOUNT_SID, "error_code": None}, status=201
        )

    @staticmethod
    def basic_auth() -> str:
        return "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


async def fake_twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", fake.messages)
    server = await aiohttp_server(app)
    return fake, str(server.make_url("")).rstrip("/")
