"""The email channel on real Redis and real RabbitMQ: a mail delivered over SMTP is offered
on the work queue once, and a redelivery of the same mail offers nothing more."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.channels.email import EmailChannel
from gateway.model import Channel
from gateway.routing.publisher import AmqpPublisher
from gateway.storage import RedisStore
from gateway.wiring.services import SERVICES
from tests.channels.test_email_gateway import email_sections
from tests.channels.test_email_support import simple_mail, smtp_send
from tests.conftest import eventually, take_all
from tests.helpers import auth, gateway_config

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]


async def only_conversation(client: TestClient) -> dict[str, Any]:
    listing = await (await client.get("/api/v1/conversations", headers=auth())).json()
    [listed] = listing["conversations"]
    resp = await client.get(f"/api/v1/conversations/{listed['id']}", headers=auth())
    assert resp.status == 200
    return await resp.json()


async def test_a_mail_is_offered_on_real_rabbitmq_once_and_its_redelivery_is_not(
    aiohttp_client: Any, redis_store: RedisStore, amqp_url: str, tmp_path: Path, work_queue: str
) -> None:
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(
        **email_sections(None, tmp_path / "attachments"),
        routing={"rules": None, "default_queue": work_queue},
        reply_tracking={"scan_interval": "50ms"},
    )
    client = await aiohttp_client(build_app(config, store=redis_store, publisher=publisher))
    await eventually(publisher.ready, timeout=30)
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port

    mail = simple_mail(
        message_id="realbroker-1@example.cn", subject="付款失败", text="我的付款失败了两次，请帮忙查看。"
    )
    first = await smtp_send(adapter.smtp_port, mail)
    assert first.data is not None and first.data[0] == 250, first
    conv = await only_conversation(client)
    cid = conv["id"]
    assert conv["channel"] == "email" and conv["queue"] == work_queue

    offers: list[Any] = []

    async def offered() -> list[Any]:
        offers.extend(await take_all(amqp_url, work_queue))
        return offers

    [offer] = await eventually(offered, timeout=30)
    body = json.loads(offer.body)
    assert body["type"] == "conversation.offer" and body["channel"] == "email" and body["conversation_id"] == cid
    assert body["reason"] == "new" and body["routing_version"] == 1 and body["queue"] == work_queue
    assert body["preview"] == "我的付款失败了两次，请帮忙查看。"
    assert offer.message_id == f"offer:{cid}:1" and offer.delivery_mode == aio_pika.DeliveryMode.PERSISTENT

    # The sending server did not see our 250 and delivers the very same mail again.
    again = await smtp_send(adapter.smtp_port, mail)
    assert again.data == first.data  # the same reference: one stored message
    assert await client.app[SERVICES].relay.drain(30)  # whatever the redelivery wrote is published by now
    assert await take_all(amqp_url, work_queue) == []
    conv = await only_conversation(client)
    assert len(conv["messages"]) == 1 and conv["routing_version"] == 1
