"""What the verification tests share: a gateway with the API channel, email (our SMTP
server in, an aiosmtpd relay out) and SMS (a fake Twilio REST API as a real local server),
a clock the test moves, and checks that a code's digits are nowhere they must not be."""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import logging
import re
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.cases.support import Clock, call
from tests.channels.test_email_support import DOMAIN, SUPPORT, RelaySink
from tests.channels.twilio_helpers import CUSTOMER, OUR_NUMBER, PUBLIC_URL, FakeTwilio, twilio_section
from tests.helpers import ALICE_TOKEN, API_SECRET, OPS_TOKEN, gateway_config, signed_api_body

EMAIL = "wang.fang@example.cn"
_ids = itertools.count(1)

__all__ = ["CUSTOMER", "EMAIL", "Clock", "call"]


def config(
    relay: RelaySink,
    twilio_url: str,
    *,
    sections: dict[str, Any] | None = None,
    channels: dict[str, Any] | None = None,
    **verification: Any,
) -> Any:
    return gateway_config(
        **(sections or {}),
        http={"public_url": PUBLIC_URL},
        smtp={"enabled": True, "host": "127.0.0.1", "port": 0, "domains": [DOMAIN]},
        channels={
            "api": {"secret": API_SECRET},
            "email": {
                "address": SUPPORT,
                "reply_token_secret": "verify-mail-token-secret",
                "relay": {"host": "127.0.0.1", "port": relay.port, "starttls": False, "timeout": 5},
            },
            "twilio": twilio_section(api_base_url=twilio_url, from_number=OUR_NUMBER),
            **(channels or {}),
        },
        verification={"secret": "verification-code-key-for-tests", **verification},
    )


async def say(client: TestClient, text: str, user: str = "u-1", **sender: Any) -> dict[str, Any]:
    """A customer message through the signed API channel."""
    body, headers = signed_api_body({"id": f"v-{next(_ids)}", "from": {"id": user, **sender}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def verify(client: TestClient, cid: str, token: str = ALICE_TOKEN, **body: Any) -> tuple[int, Any]:
    return await call(client, "POST", f"/api/v1/conversations/{cid}/verify", token, json=body)


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    status, body = await call(client, "GET", f"/api/v1/conversations/{cid}", OPS_TOKEN)
    assert status == 200, body
    return body


async def settle(client: TestClient) -> None:
    """Run every timer due now: sends, notices, expiries."""
    while await client.app[SERVICES].timers.scan_once():
        pass


def sms_bodies(twilio: FakeTwilio, to: str = CUSTOMER) -> list[str]:
    return [str(fields["Body"]) for _, fields in twilio.received if fields.get("To") == to]


def code_from(text: str) -> str:
    found = re.search(r"(?<!\d)(\d{6})(?!\d)", text)
    assert found, text
    return found.group(1)


def mail_texts(relay: RelaySink, to: str = EMAIL) -> list[tuple[str, str]]:
    """(subject, plain text) of each mail the relay took for ``to``."""
    out = []
    for received in relay.received:
        if to in received.rcpt_tos:
            mail = email.message_from_bytes(received.content, policy=email.policy.default)
            part = mail.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
            out.append((str(mail["Subject"]), part.get_content() if part is not None else ""))
    return out


def events(publisher: MemoryPublisher, kind: str | None = None) -> list[dict[str, Any]]:
    bodies = [json.loads(o.body) for o in publisher.events]
    return [b for b in bodies if kind is None or b.get("type") == kind]


async def stored_text(store: Store) -> str:
    """Everything the store holds under its prefix, as one text."""
    redis = store._redis  # type: ignore[attr-defined]
    parts: list[str] = []
    async for key in redis.scan_iter(match=f"{store.prefix}:*", count=500):  # type: ignore[attr-defined]
        kind = await redis.type(key)
        if kind == "string":
            parts.append(str(await redis.get(key)))
        elif kind == "hash":
            parts.append(json.dumps(await redis.hgetall(key), ensure_ascii=False))
        elif kind == "list":
            parts.extend(await redis.lrange(key, 0, -1))
        elif kind == "set":
            parts.extend(await redis.smembers(key))
        elif kind == "zset":
            parts.extend(m for m, _ in await redis.zrange(key, 0, -1, withscores=True))
        elif kind == "stream":
            parts.extend(json.dumps(fields, ensure_ascii=False) for _, fields in await redis.xrange(key))
        parts.append(key)
    return "\n".join(parts)


def holds(text: str, code: str) -> bool:
    return re.search(rf"(?<!\d){code}(?!\d)", text) is not None


async def assert_nowhere(code: str, client: TestClient, store: Store, publisher: MemoryPublisher, logs: Any) -> None:
    """The code's digits are not in storage, on the broker, in the logs or in the API."""
    assert not holds(await stored_text(store), code)
    assert not any(holds(o.body.decode(), code) for o in publisher.events)
    assert not any(holds(json.dumps(vars(r), default=str, ensure_ascii=False), code) for r in logs.records)
    listing = (await call(client, "GET", "/api/v1/conversations?limit=100", OPS_TOKEN))[1]
    for conv in listing["conversations"]:
        assert not holds(json.dumps(await conversation(client, conv["id"]), ensure_ascii=False), code)


def capture_logs(caplog: Any) -> Any:
    caplog.set_level(logging.DEBUG, logger="gateway")
    return caplog
