"""No card number a customer writes reaches storage, RabbitMQ (the work queue's offer
preview, ``message.inbound`` on ``gateway.events``) or the log, through the real HTTP
path, on both stores."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import AmqpPublisher
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.conftest import eventually, take_all
from tests.helpers import auth, gateway_config, signed_api_body
from tests.leaks import leaked, log_text, store_dump
from tests.multiprocess.conftest import EventTap

VISA, AMEX, UNIONPAY = "4111111111111111", "378282246310005", "6222021234567890128"
NUMBERS = [VISA, AMEX, UNIONPAY, "5555555555554444", "6200000000000005"]

# The probe's formats and more: a CVV or expiry after, a number before, odd spaces, dots.
TEXTS = [
    f"卡号 {VISA} 123",
    f"card {VISA} 12/25",
    f"订单 12345 {VISA} 付款失败",
    "4111\u00a01111\u00a01111\u00a01111",
    "4111  1111  1111  1111",
    "4111.1111.1111.1111",
    "4111-1111 1111.1111 cvv 737",
    "amex 3782\u2009822463\u200910005 exp 12/27",
    "银联 6222\u30000212\u30003456\u30007890\u3000128",
    "５５５５－５５５５－５５５５－４４４４",
    "6200\u200b0000\u200b0000\u200b0005",
]


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[EventTap]:
    t = EventTap(amqp_url)
    await t.start()
    yield t
    await t.close()


async def leak_client(aiohttp_client: Any, store: Store, amqp_url: str, work_queue: str) -> TestClient:
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(routing={"rules": None, "default_queue": work_queue})
    client = await aiohttp_client(build_app(config, store=store, publisher=publisher))
    await eventually(publisher.ready, timeout=30)
    return client


async def published(client: TestClient, amqp_url: str, work_queue: str, tap: EventTap) -> str:
    """Everything the gateway published: the work queue's offers and every event."""
    assert await client.app[SERVICES].relay.drain(30)
    offers = [json.loads(m.body) for m in await take_all(amqp_url, work_queue)]
    await tap.flush()
    events = [body for _, _, body in tap.events]
    assert offers and any(e.get("type") == "message.inbound" for e in events)
    return json.dumps([offers, events], ensure_ascii=False)


async def test_card_numbers_in_any_format_never_reach_storage_amqp_or_logs(
    aiohttp_client: Any, store: Store, amqp_url: str, work_queue: str, tap: EventTap, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await leak_client(aiohttp_client, store, amqp_url, work_queue)
    for i, text in enumerate(TEXTS):
        body, headers = signed_api_body({"id": f"leak-{i}", "from": {"id": f"customer-{i}"}, "text": text})
        resp = await client.post("/webhooks/api", data=body, headers=headers)
        assert resp.status == 200, await resp.text()
    listing = await (await client.get("/api/v1/conversations", headers=auth())).json()
    assert len(listing["conversations"]) == len(TEXTS)
    shown = []
    for conv in listing["conversations"]:
        messages = await (await client.get(f"/api/v1/conversations/{conv['id']}", headers=auth())).json()
        shown.append(json.dumps(messages, ensure_ascii=False))
    joined = "\n".join(shown)
    assert "************1111" in joined and "***0\u3000128" in joined and "＊" not in joined
    amqp = await published(client, amqp_url, work_queue, tap)
    assert '"preview"' in amqp
    assert leaked(joined, NUMBERS) == []
    assert leaked(await store_dump(store), NUMBERS) == []  # type: ignore[arg-type]
    assert leaked(amqp, NUMBERS) == []
    assert leaked(log_text(caplog.records), NUMBERS) == []


async def test_card_numbers_in_names_attachments_and_attribute_names_are_masked_everywhere(
    aiohttp_client: Any, store: Store, amqp_url: str, work_queue: str, tap: EventTap, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await leak_client(aiohttp_client, store, amqp_url, work_queue)
    payload = {
        "id": "names-1",
        "from": {"id": "crm-77", "name": f"张三 {VISA}", "phone": "+86 138 0013 8000"},
        "text": "退款",
        "attributes": {f"card_{AMEX}": "x", "note": f"卡 {UNIONPAY}", "tags": [f"t {VISA}"]},
        "attachments": [
            {"url": f"https://files.example.com/{VISA}/receipt-{AMEX}.pdf", "name": f"卡号{VISA}.pdf"},
        ],
    }
    body, headers = signed_api_body(payload)
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    cid = (await resp.json())["conversation_id"]
    detail = await (await client.get(f"/api/v1/conversations/{cid}", headers=auth())).json()
    shown = json.dumps(detail, ensure_ascii=False)
    assert "张三 ************1111" in shown and "卡号************1111.pdf" in shown
    assert "card_***********0005" in shown and "+8613800138000" in shown  # a phone stays whole

    # Identities and ids that must match exactly are refused, not masked (docs/security.md).
    refused = [
        {"id": "names-2", "from": {"id": f"user-{VISA}"}, "text": "hi"},
        {"id": "names-3", "from": {"id": "crm-78", "email": f"{VISA}@example.com"}, "text": "hi"},
        {"id": f"msg-{VISA}", "from": {"id": "crm-79"}, "text": "hi"},
    ]
    for bad in refused:
        body, headers = signed_api_body(bad)
        resp = await client.post("/webhooks/api", data=body, headers=headers)
        answer = await resp.text()
        assert resp.status == 422 and "card number" in answer and leaked(answer, NUMBERS) == []

    amqp = await published(client, amqp_url, work_queue, tap)
    assert leaked(shown, NUMBERS) == []
    assert leaked(await store_dump(store), NUMBERS) == []  # type: ignore[arg-type]
    assert leaked(amqp, NUMBERS) == []
    assert leaked(log_text(caplog.records), NUMBERS) == []


async def test_a_web_chat_visitor_s_name_and_message_reach_nothing_in_full(
    aiohttp_client: Any, store: Store, amqp_url: str, work_queue: str, tap: EventTap, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.channels.test_webchat import ORIGIN, Visitor, conversation_of

    caplog.set_level(logging.DEBUG)
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(
        routing={"rules": None, "default_queue": work_queue}, channels={"webchat": {"allowed_origins": [ORIGIN]}}
    )
    client = await aiohttp_client(build_app(config, store=store, publisher=publisher))
    await eventually(publisher.ready, timeout=30)
    tab = Visitor(client)
    await tab.hello(name=f"陈静 {VISA}", page=f"https://shop.example.com/pay/{AMEX}")
    await tab.frame(type="identify", name=f"陈静 {VISA}", email=f"{UNIONPAY}@example.com")
    refused = await tab.next("error")
    assert refused["code"] == "invalid_email" and leaked(json.dumps(refused), NUMBERS) == []
    ack = await tab.say("c-1", "卡号 4111\u00a01111\u00a01111\u00a01111 有效期 12/27")
    assert ack["type"] == "ack"
    conv = await conversation_of(client, tab.visitor_id)
    shown = json.dumps(conv, ensure_ascii=False)
    assert "陈静 ************1111" in shown
    amqp = await published(client, amqp_url, work_queue, tap)
    await tab.close()
    assert leaked(shown, NUMBERS) == []
    assert leaked(await store_dump(store), NUMBERS) == []  # type: ignore[arg-type]
    assert leaked(amqp, NUMBERS) == []
    assert leaked(log_text(caplog.records), NUMBERS) == []
