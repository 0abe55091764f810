"""POST /webhooks/api: signature, validation, dedupe, limits, storage outage."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.conftest import eventually
from tests.helpers import auth, gateway_config, signed_api_body

PAYLOAD = {
    "id": "crm-msg-1",
    "from": {"id": "user-42", "name": "陈静", "email": "Chen.Jing@Example.com", "phone": "+86 138 0013 8000"},
    "text": "我的银行卡 6222 0212 3456 7890 128 付款失败，请帮忙",
    "attributes": {"tier": "vip", "tags": ["merchant"]},
}


async def post(client: TestClient, payload: dict, **kw):  # type: ignore[no-untyped-def]
    body, headers = signed_api_body(payload)
    return await client.post("/webhooks/api", data=body, headers=headers, **kw)


async def test_signed_message_is_stored_and_answered_with_ids(client: TestClient) -> None:
    resp = await post(client, PAYLOAD)
    assert resp.status == 200
    data = await resp.json()
    assert data["duplicate"] is False
    conv = await (await client.get(f"/api/v1/conversations/{data['conversation_id']}", headers=auth())).json()
    assert conv["channel"] == "api" and conv["queue"] == "general"
    assert [m["id"] for m in conv["messages"]] == [data["message_id"]]
    assert conv["messages"][0]["text"].startswith("我的银行卡")
    contact = conv["contact"]
    assert contact["name"] == "陈静" and contact["attributes"] == {"tier": "vip", "tags": ["merchant"]}
    assert {f"{i['kind']}:{i['value']}" for i in contact["identities"]} == {
        "api:user-42",
        "email:chen.jing@example.com",
        "phone:+8613800138000",
    }
    assert conv["reply_tracking"]["state"] == "active" and conv["reply_tracking"]["reply_by"]


async def test_redelivery_answers_the_same_ids_and_creates_nothing(client: TestClient) -> None:
    first = await (await post(client, PAYLOAD)).json()
    second = await (await post(client, PAYLOAD)).json()
    assert second == {**first, "duplicate": True}
    listing = await (await client.get("/api/v1/conversations", headers=auth())).json()
    assert len(listing["conversations"]) == 1 and listing["conversations"][0]["message_count"] == 1


async def test_twenty_concurrent_deliveries_of_one_id_create_one_message(client: TestClient) -> None:
    responses = await asyncio.gather(*(post(client, PAYLOAD) for _ in range(20)))
    bodies = [await r.json() for r in responses]
    assert {r.status for r in responses} == {200}
    assert len({b["message_id"] for b in bodies}) == 1
    assert sum(not b["duplicate"] for b in bodies) == 1
    conv = await (await client.get(f"/api/v1/conversations/{bodies[0]['conversation_id']}", headers=auth())).json()
    assert len(conv["messages"]) == 1


async def test_card_number_is_masked_in_storage(client: TestClient) -> None:
    data = await (await post(client, PAYLOAD)).json()
    conv = await (await client.get(f"/api/v1/conversations/{data['conversation_id']}", headers=auth())).json()
    assert "6222 0212 3456 7890 128" not in json.dumps(conv, ensure_ascii=False)
    assert "**** **** **** ***0 128" in conv["messages"][0]["text"]


async def test_a_missing_signature_is_401_a_wrong_one_403_and_both_store_nothing(client: TestClient) -> None:
    body, headers = signed_api_body(PAYLOAD)
    resp = await client.post("/webhooks/api", data=body)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unsigned"
    for bad in (
        {"X-Gateway-Signature": "sha256=" + "0" * 64},
        {"X-Gateway-Signature": headers["X-Gateway-Signature"][7:]},
    ):
        resp = await client.post("/webhooks/api", data=body, headers=bad)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "bad_signature"
    tampered = body.replace("付款失败".encode(), "退款".encode())
    resp = await client.post("/webhooks/api", data=tampered, headers=headers)
    assert resp.status == 403
    listing = await (await client.get("/api/v1/conversations", headers=auth())).json()
    assert listing["conversations"] == []


async def test_signature_is_over_the_raw_bytes_not_reserialised_json(client: TestClient) -> None:
    # Escaped non-ASCII and odd spacing: re-serialising would change the bytes.
    body = b'{ "id":"esc-1", "from": {"id":"u\\u00e4"},  "text":"\\u4ed8\\u6b3e\\u5931\\u8d25" }'
    sig = "sha256=" + hmac.new(b"test-api-secret-3f9a", body, hashlib.sha256).hexdigest()
    resp = await client.post("/webhooks/api", data=body, headers={"X-Gateway-Signature": sig})
    assert resp.status == 200
    data = await resp.json()
    conv = await (await client.get(f"/api/v1/conversations/{data['conversation_id']}", headers=auth())).json()
    assert conv["messages"][0]["text"] == "付款失败"


async def test_malformed_json_is_400(client: TestClient) -> None:
    body = b'{"id": "x", "from": '
    sig = "sha256=" + hmac.new(b"test-api-secret-3f9a", body, hashlib.sha256).hexdigest()
    resp = await client.post("/webhooks/api", data=body, headers={"X-Gateway-Signature": sig})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_json"


async def test_missing_fields_and_bad_values_are_422_with_the_field_named(client: TestClient) -> None:
    cases = [
        ({"from": {"id": "u"}, "text": "hi"}, "id"),
        ({"id": "m", "text": "hi"}, "from"),
        ({"id": "m", "from": {"id": "u"}, "text": ""}, "text"),
        ({"id": "m", "from": {"id": "u", "email": "not-an-email"}, "text": "hi"}, "from"),
        ({"id": "m", "from": {"id": "u", "phone": "call me"}, "text": "hi"}, "from"),
        ({"id": "m", "from": {"id": "u"}, "text": "hi", "attributes": {"x": {"nested": 1}}}, "attributes"),
        (["not", "an", "object"], "object"),
    ]
    for payload, field in cases:
        resp = await post(client, payload)  # type: ignore[arg-type]
        assert resp.status == 422, payload
        error = (await resp.json())["error"]
        assert error["code"] == "invalid" and field in error["message"], error


async def test_body_over_one_mebibyte_is_413(client: TestClient) -> None:
    payload = {**PAYLOAD, "id": "big", "text": "x" * (1024 * 1024 + 10)}
    resp = await post(client, payload)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"


async def test_storage_down_is_503_and_nothing_is_acknowledged(aiohttp_client, unreachable_store: Store) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(build_app(gateway_config(), store=unreachable_store, publisher=MemoryPublisher()))
    resp = await post(client, PAYLOAD)
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert (await resp.json())["error"]["code"] == "storage_unavailable"
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/api/v1/conversations", headers=auth())).status == 503


async def test_disabled_channel_paths_answer_404(aiohttp_client, store) -> None:  # type: ignore[no-untyped-def]
    config = gateway_config()
    config.channels.api = None
    client = await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))
    body, headers = signed_api_body(PAYLOAD)
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


async def test_offer_and_events_reach_the_broker(client: TestClient, publisher: MemoryPublisher) -> None:
    data = await (await post(client, PAYLOAD)).json()
    offers = await eventually(lambda: publisher.queues.get("general"))
    [offer] = offers
    body = json.loads(offer.body)
    assert offer.message_id == f"offer:{data['conversation_id']}:1" and offer.priority == 3
    assert body["type"] == "conversation.offer" and body["reason"] == "new" and body["queue"] == "general"
    kinds = await eventually(
        lambda: {e.routing_key for e in publisher.events} >= {"message.inbound", "conversation.opened"}
    )
    assert kinds


async def test_an_over_long_provider_id_is_422_not_500(client: TestClient) -> None:
    resp = await post(client, {**PAYLOAD, "id": "x" * 600})
    assert resp.status == 422
