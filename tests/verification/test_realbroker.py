"""A verification on real Redis and real RabbitMQ: the events reach ``gateway.events``
with the masked destination and the outcome, and no AMQP message — events or offers —
nor any Redis key holds the code's digits."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from gateway.app import build_app
from gateway.routing.publisher import AmqpPublisher
from gateway.storage import RedisStore
from gateway.wiring.services import SERVICES
from tests.channels.twilio_helpers import OUR_NUMBER, fake_twilio, twilio_section
from tests.conftest import delete_queues, eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, gateway_config
from tests.verification.support import CUSTOMER, call, code_from, holds, say, settle, sms_bodies, stored_text

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]


class Tap:
    """An exclusive queue bound to ``gateway.events`` (every key) and the test's work queue."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self, url: str, work_queue: str) -> None:
        self.connection = await aio_pika.connect_robust(url)
        channel = await self.connection.channel()
        events = await channel.declare_exchange("gateway.events", aio_pika.ExchangeType.TOPIC, durable=True)
        work = await channel.declare_exchange("gateway.work", aio_pika.ExchangeType.DIRECT, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(events, routing_key="#")
        await queue.bind(work, routing_key=work_queue)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.bodies.append((message.routing_key or "", message.body))

        await queue.consume(on_message)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(body) for key, body in self.bodies if key == kind]


@pytest.fixture
async def work_queue(amqp_url: str) -> AsyncIterator[str]:
    name = f"verify-{uuid.uuid4().hex[:8]}"
    yield name
    await delete_queues(amqp_url, name)


@pytest.fixture
async def tap(amqp_url: str, work_queue: str) -> AsyncIterator[Tap]:
    t = Tap()
    await t.start(amqp_url, work_queue)
    yield t
    if t.connection is not None:
        await t.connection.close()


async def test_the_digits_reach_neither_rabbitmq_nor_redis(
    aiohttp_client: Any, aiohttp_server: Any, redis_store: RedisStore, amqp_url: str, work_queue: str, tap: Tap
) -> None:
    twilio, twilio_url = await fake_twilio(aiohttp_server)
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(
        routing={"rules": None, "default_queue": work_queue},
        channels={
            "api": {"secret": API_SECRET},
            "twilio": twilio_section(api_base_url=twilio_url, from_number=OUR_NUMBER),
        },
        verification={"secret": "real-broker-verification-key"},
    )
    client = await aiohttp_client(build_app(config, store=redis_store, publisher=publisher))
    await eventually(publisher.ready, timeout=30)
    cid = (await say(client, "我要解冻账户", phone=CUSTOMER))["conversation_id"]
    status, body = await call(client, "POST", f"/api/v1/conversations/{cid}/verify", ALICE_TOKEN, json={})
    assert status == 202, body
    await settle(client)
    code = code_from((await eventually(lambda: sms_bodies(twilio) or None))[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    await say(client, wrong, phone=CUSTOMER)
    await say(client, f"我的验证码是 {code}", phone=CUSTOMER)
    [succeeded] = await eventually(lambda: tap.of("verification.succeeded"), timeout=30)
    assert succeeded["contact_id"] and succeeded["method"] == "sms"
    [requested] = tap.of("verification.requested")
    assert requested["to"] == "+86 138****8000" and requested["conversation_id"] == cid
    assert await client.app[SERVICES].relay.drain(15)
    await eventually(lambda: len(tap.of("message.inbound")) >= 3, timeout=30)
    assert tap.of(work_queue), "the offer reached the work queue too"
    assert not [key for key, body in tap.bodies if holds(body.decode(), code) or holds(body.decode(), wrong)]
    assert not holds(await stored_text(redis_store), code)
