"""Every JSON the gateway reads goes through one reader: standard JSON only, depth and digit
limits, lone surrogates made U+FFFD — a clear 400/422 with the JSON error body, never a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.errors import MAX_JSON_DEPTH, MAX_JSON_DIGITS, RequestRejected, parse_json_body
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.helpers import ALICE_TOKEN, API_SECRET, OPS_TOKEN, auth, gateway_config

DEEP = '{"id":"d-1","from":{"id":"u"},"text":"x","attributes":{"a":' + "[" * 5000 + "]" * 5000 + "}}"
LONG_INT = '{"id":"n-1","from":{"id":"u"},"text":"x","attributes":{"n":' + "9" * 5000 + "}}"
HOSTILE: dict[str, tuple[str, str]] = {
    "deep": (DEEP, "too_deep"),
    "unclosed": ("[" * 100_000, "too_deep"),
    "long integer": (LONG_INT, "number_too_long"),
    "NaN": ('{"id":"c-1","from":{"id":"u"},"text":"x","attributes":{"a":NaN}}', "malformed_json"),
    "Infinity": ('{"id":"c-2","from":{"id":"u"},"text":"x","attributes":{"a":-Infinity}}', "malformed_json"),
    "1e400": ('{"id":"c-3","from":{"id":"u"},"text":"x","attributes":{"a":1e400}}', "malformed_json"),
}


def signed(raw: bytes) -> dict[str, str]:
    sig = "sha256=" + hmac.new(API_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Gateway-Signature": sig, "Content-Type": "application/json"}


@pytest.fixture
async def client(aiohttp_client: Any, store: Store) -> TestClient:
    return await aiohttp_client(build_app(gateway_config(), store=store, publisher=MemoryPublisher()))


def test_the_reader_keeps_to_standard_json_within_limits() -> None:
    assert parse_json_body(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert parse_json_body("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    assert parse_json_body("9" * MAX_JSON_DIGITS) == int("9" * MAX_JSON_DIGITS)
    assert parse_json_body('"[[[[' + "[" * 500 + '"') == "[[[[" + "[" * 500  # brackets in strings are text
    refused = {
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1): "too_deep",
        "9" * (MAX_JSON_DIGITS + 1): "number_too_long",
        "-" + "9" * 5000: "number_too_long",
        "0." + "1" * 5000: "number_too_long",
        "NaN": "malformed_json",
        "[Infinity]": "malformed_json",
        "1e400": "malformed_json",
        "-1E+999": "malformed_json",
        "": "malformed_json",
    }
    for text, code in refused.items():
        with pytest.raises(RequestRejected) as caught:
            parse_json_body(text)
        assert (caught.value.status, caught.value.code) == (400, code), text[:40]
    with pytest.raises(RequestRejected) as caught:
        parse_json_body(b'{"a": "\xff"}')
    assert (caught.value.status, caught.value.code) == (400, "malformed_json")


def test_lone_surrogates_become_replacement_characters_in_keys_and_values() -> None:
    data = parse_json_body(r'{"k\ud800": ["\udfff", "\ud83d\ude00", {"\udc00": "a\ud800b"}]}')
    assert data == {"k\ufffd": ["\ufffd", "😀", {"\ufffd": "a\ufffdb"}]}
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # encodable everywhere


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_a_hostile_webhook_body_is_a_400_with_the_json_error(client: TestClient, name: str) -> None:
    raw, code = HOSTILE[name]
    resp = await client.post("/webhooks/api", data=raw.encode(), headers=signed(raw.encode()))
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == code


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_json_from_ops_and_agents_is_a_400(client: TestClient, name: str) -> None:
    raw, code = HOSTILE[name]
    seed = json.dumps({"id": "seed-1", "from": {"id": "u-seed"}, "text": "hello"}).encode()
    conv = (await (await client.post("/webhooks/api", data=seed, headers=signed(seed))).json())["conversation_id"]
    paths = {
        "/api/v1/routing/simulate": OPS_TOKEN,
        f"/api/v1/conversations/{conv}/messages": ALICE_TOKEN,
        f"/api/v1/conversations/{conv}/claim": ALICE_TOKEN,
    }
    for path, token in paths.items():
        resp = await client.post(path, data=raw.encode(), headers={**auth(token), "Content-Type": "application/json"})
        assert resp.status == 400, path
        assert (await resp.json())["error"]["code"] == code, path


async def test_lone_surrogates_in_any_customer_string_are_stored_as_replacement_characters(
    client: TestClient,
) -> None:
    raw = (
        rb'{"id":"s-1\ud800","from":{"id":"u\udc00-1","name":"Li\ud800"},"text":"hi\udfff",'
        rb'"attachments":[{"url":"https://files.example.com/a\ud800.png","name":"a\ud800.png",'
        rb'"content_type":"image/png\udc00"}],'
        rb'"attributes":{"tier\ud800":"vip\udfff","tags":["x\ud800"]}}'
    )
    resp = await client.post("/webhooks/api", data=raw, headers=signed(raw))
    assert resp.status == 200, await resp.text()
    conv_id = (await resp.json())["conversation_id"]
    conv = await (await client.get(f"/api/v1/conversations/{conv_id}", headers=auth())).json()
    message = conv["messages"][0]
    assert message["text"] == "hi\ufffd"
    assert message["attachments"][0]["name"] == "a\ufffd.png"
    assert message["attachments"][0]["content_type"] == "image/png\ufffd"
    assert conv["contact"]["name"] == "Li\ufffd"
    assert conv["contact"]["attributes"] == {"tier\ufffd": "vip\ufffd", "tags": ["x\ufffd"]}
    assert "api:u\ufffd-1" in {f"{i['kind']}:{i['value']}" for i in conv["contact"]["identities"]}
    # An email address with a byte nobody could read is no address: a 422 that says so.
    raw = rb'{"id":"s-2","from":{"id":"u-2","email":"li\ud800@example.com"},"text":"hi"}'
    resp = await client.post("/webhooks/api", data=raw, headers=signed(raw))
    assert resp.status == 422 and "from" in (await resp.json())["error"]["message"]


async def test_an_attachment_size_must_be_a_number_not_true_or_false(client: TestClient) -> None:
    raw = json.dumps(
        {"id": "z-1", "from": {"id": "u"}, "attachments": [{"url": "https://f.example.com/a", "size": False}]}
    ).encode()
    resp = await client.post("/webhooks/api", data=raw, headers=signed(raw))
    assert resp.status == 422 and "size" in (await resp.json())["error"]["message"]


@pytest.mark.parametrize(
    "frame",
    ["[" * 3000, '{"type": "auth", "token": ' + "9" * 3000 + "}", '{"type": NaN}'],
    ids=["deep", "long-number", "NaN"],
)
async def test_the_console_socket_answers_hostile_frames_with_an_error_frame(client: TestClient, frame: str) -> None:
    ws = await client.ws_connect("/api/v1/events/ws")
    await ws.send_str(frame)
    error = await ws.receive_json(timeout=30)
    assert (error["type"], error["code"]) == ("error", "auth_required")
    closing = await ws.receive(timeout=30)
    assert closing.type.name in ("CLOSE", "CLOSING", "CLOSED")
    await ws.close()
    # The same frames after signing in: an error frame each, and the socket stays.
    ws = await client.ws_connect("/api/v1/events/ws")
    await ws.send_json({"type": "auth", "token": OPS_TOKEN})
    assert (await ws.receive_json(timeout=30))["type"] == "ready"
    await ws.send_str(frame)
    while (answer := await ws.receive_json(timeout=30))["type"] == "resync":
        pass
    assert (answer["type"], answer["code"]) == ("error", "unknown_frame")
    await ws.send_str('{"type": "ping"}')
    while (answer := await ws.receive_json(timeout=30))["type"] == "resync":
        pass
    assert answer == {"type": "pong"}
    await ws.close()
