"""The email channel on real Redis and real RabbitMQ: a mail delivered over SMTP is offered
on the ``general`` queue once, and a redelivery of the same mail offers nothing more."""

from __future__ import annotations

import asyncio
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
from tests.conftest import eventually
from tests.helpers import auth, gateway_config

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]


async def offers_for(amqp_url: str, cid: str, *, want: int, settle: float, timeout: float = 20.0) -> list[Any]:
    """Offers for ``cid`` on ``general``: wait for ``want`` of them, then ``settle`` seconds
    more so that an extra one would show up too. The run's vhost is shared by every test,
    so other conversations' offers are taken off the queue and left out."""
    connection = await aio_pika.connect_robust(amqp_url)
    found: list[Any] = []
    try:
        queue = await (await connection.channel()).get_queue("general")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_until: float | None = None
        while loop.time() < deadline:
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                if json.loads(message.body).get("conversation_id") == cid:
                    found.append(message)
                continue
            if len(found) >= want:
                quiet_until = quiet_until or loop.time() + settle
                if loop.time() >= quiet_until:
                    break
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    return found


async def only_conversation(client: TestClient) -> dict[str, Any]:
    listing = await (await client.get("/api/v1/conversations", headers=auth())).json()
    [listed] = listing["conversations"]
    resp = await client.get(f"/api/v1/conversations/{listed['id']}", headers=auth())
    assert resp.status == 200
    return await resp.json()


async def test_a_mail_is_offered_on_real_rabbitmq_once_and_its_redelivery_is_not(
    aiohttp_client: Any, redis_store: RedisStore, amqp_url: str, tmp_path: Path
) -> None:
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(**email_sections(None, tmp_path / "attachments"), reply_tracking={"scan_interval": "50ms"})
    client = await aiohttp_client(build_app(config, store=redis_store, publisher=publisher))
    await eventually(publisher.ready, timeout=15)
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port

    mail = simple_mail(
        message_id="realbroker-1@example.cn", subject="付款失败", text="我的付款失败了两次，请帮忙查看。"
    )
    first = await smtp_send(adapter.smtp_port, mail)
    assert first.data is not None and first.data[0] == 250, first
    conv = await only_conversation(client)
    cid = conv["id"]
    assert conv["channel"] == "email" and conv["queue"] == "general"

    [offer] = await offers_for(amqp_url, cid, want=1, settle=0.5)
    body = json.loads(offer.body)
    assert body["type"] == "conversation.offer" and body["channel"] == "email"
    assert body["reason"] == "new" and body["routing_version"] == 1 and body["queue"] == "general"
    assert body["preview"] == "我的付款失败了两次，请帮忙查看。"
    assert offer.message_id == f"offer:{cid}:1" and offer.delivery_mode == aio_pika.DeliveryMode.PERSISTENT

    # The sending server did not see our 250 and delivers the very same mail again.
    again = await smtp_send(adapter.smtp_port, mail)
    assert again.data == first.data  # the same reference: one stored message
    assert await offers_for(amqp_url, cid, want=0, settle=2.0) == []
    conv = await only_conversation(client)
    assert len(conv["messages"]) == 1 and conv["routing_version"] == 1
    assert (await redis_store.outbox_stats()).depth == 0  # nothing left waiting to be published either
