"""Header bytes that are not UTF-8, before authentication: a clear 400/401 with the error
body (JSON; TwiML on the Twilio paths), never a 500 — sent as raw bytes over a socket."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from tests.api.test_openapi import ALL_CHANNELS
from tests.helpers import OPS_TOKEN, gateway_config
from tests.routing.conftest import BASE_RULES

BAD = b"\xff\xfe\xc3("  # not UTF-8 in any reading


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    rules = tmp_path / "routing.yaml"
    rules.write_text(BASE_RULES, encoding="utf-8")
    config = gateway_config(channels=ALL_CHANNELS, routing={"rules": str(rules), "reload_interval": "1h"})
    return await aiohttp_client(build_app(config, store=MemoryStore(), publisher=MemoryPublisher()))


async def raw_request(client: TestClient, method: str, path: str, headers: list[bytes], body: bytes = b"") -> Any:
    """(status, content type, body) of one request written byte for byte."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = [f"{method} {path} HTTP/1.1".encode(), f"Host: {client.host}:{client.port}".encode(), *headers]
    head += [f"Content-Length: {len(body)}".encode(), b"Connection: close"]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    top, _, payload = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    content_type = next(
        (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("content-type")), ""
    )
    return status, content_type, payload


BEARER = f"Authorization: Bearer {OPS_TOKEN}".encode()
CASES = [
    # (method, path, headers, body, status)
    ("GET", "/api/v1/conversations", [b"Authorization: Bearer " + BAD], b"", 401),
    ("GET", "/api/v1/conversations", [b"Authorization: " + BAD], b"", 401),
    ("PUT", "/api/v1/routing/rules", [BEARER, b'If-Match: "' + BAD + b'"'], BASE_RULES.encode(), 400),
    ("GET", "/api/v1/routing/rules", [BEARER, b"Accept: application/" + BAD], b"", 400),
    ("POST", "/webhooks/api", [b"X-Gateway-Signature: sha256=" + BAD, b"Content-Type: application/json"], b"{}", 400),
    ("POST", "/webhooks/whatsapp", [b"X-Hub-Signature-256: sha256=" + BAD], b"{}", 400),
    ("POST", "/webhooks/messenger", [b"X-Hub-Signature-256: " + BAD], b"{}", 400),
    ("POST", "/webhooks/telegram", [b"X-Telegram-Bot-Api-Secret-Token: " + BAD], b"{}", 400),
    ("GET", "/chat", [b"Accept-Language: " + BAD], b"", 400),
    ("GET", "/static/widget.js", [b"If-None-Match: " + BAD], b"", 400),
    ("GET", "/webchat/ws", [b"Origin: http://" + BAD], b"", 400),
    ("GET", "/static/console.css", [b"If-None-Match: " + BAD], b"", 400),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), CASES, ids=[c[1] for c in CASES])
async def test_a_header_that_is_not_utf8_is_a_clear_4xx(
    client: TestClient, method: str, path: str, headers: list[bytes], body: bytes, status: int
) -> None:
    got, content_type, payload = await raw_request(client, method, path, headers, body)
    assert got == status, payload[:300]
    assert content_type.startswith("application/json")
    error = json.loads(payload)["error"]
    assert "not UTF-8" in error["message"]


async def test_twilio_answers_a_header_that_is_not_utf8_in_twiml(client: TestClient) -> None:
    got, content_type, payload = await raw_request(
        client,
        "POST",
        "/webhooks/twilio/sms",
        [b"X-Twilio-Signature: " + BAD, b"Content-Type: application/x-www-form-urlencoded"],
        b"From=%2B8613800138000&Body=hi",
    )
    assert got == 400 and content_type.startswith(("application/xml", "text/xml"))
    assert b"not UTF-8" in payload


async def test_the_rest_of_the_request_still_works(client: TestClient) -> None:
    # Headers the gateway never reads may hold anything (an old browser's Latin-1 Referer).
    got, _, payload = await raw_request(client, "GET", "/api/v1/conversations", [BEARER, b"Referer: " + BAD])
    assert got == 200, payload[:300]
