"""The outbox relay against real RabbitMQ: topology, message properties, outages."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from typing import Any

import aio_pika
import pytest

from gateway.app import build_app
from gateway.routing.publisher import AmqpPublisher
from tests.conftest import delete_queues, eventually
from tests.helpers import gateway_config, signed_api_body
from tests.servers import PrivateRabbit

pytestmark = [pytest.mark.rabbitmq, pytest.mark.redis]


async def collect(
    url: str, queue_name: str, *, want: int, timeout: float = 30.0, bind_events: bool = False
) -> list[Any]:
    """Consume ``want`` messages from a queue (declared passively unless binding events)."""
    connection = await aio_pika.connect_robust(url)
    got: list[Any] = []
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name)
        async with asyncio.timeout(timeout):
            async with queue.iterator() as it:
                async for message in it:
                    async with message.process():
                        got.append(message)
                    if len(got) >= want:
                        break
    finally:
        await connection.close()
    return got


async def test_offers_and_events_are_published_persistent_with_confirms(
    aiohttp_client, amqp_url, amqp_vhost, redis_store, work_queue
) -> None:  # type: ignore[no-untyped-def]
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(routing={"rules": None, "default_queue": work_queue})
    client = await aiohttp_client(build_app(config, store=redis_store, publisher=publisher))
    await eventually(publisher.ready)
    # A subscriber of every event, as another system would bind one.
    listener = await aio_pika.connect_robust(amqp_url)
    channel = await listener.channel()
    events_queue = await channel.declare_queue(exclusive=True)
    await events_queue.bind("gateway.events", routing_key="#")

    body, headers = signed_api_body({"id": "amqp-1", "from": {"id": "u-amqp"}, "text": "退款什么时候到账？"})
    data = await (await client.post("/webhooks/api", data=body, headers=headers)).json()

    [offer] = await collect(amqp_url, work_queue, want=1)
    assert offer.content_type == "application/json"
    assert offer.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert offer.priority == 3 and offer.message_id == f"offer:{data['conversation_id']}:1"
    payload = json.loads(offer.body)
    assert payload["type"] == "conversation.offer" and payload["conversation_id"] == data["conversation_id"]
    assert payload["preview"] == "退款什么时候到账？" and payload["routing_version"] == 1

    events = []
    async with asyncio.timeout(30):
        async with events_queue.iterator() as it:
            async for message in it:
                await message.ack()
                events.append(message)
                if len(events) == 2:
                    break
    assert sorted(m.routing_key for m in events) == ["conversation.opened", "message.inbound"]
    assert all(m.message_id for m in events)
    await listener.close()

    listing = (
        await asyncio.to_thread(
            subprocess.run,
            ["rabbitmqctl", "-q", "list_queues", "-p", amqp_vhost, "name", "durable", "arguments"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    ).stdout
    queue = next(line for line in listing.splitlines() if line.startswith(work_queue))
    assert "true" in queue and "x-max-priority" in queue and "10" in queue and "gateway.dlx" in queue


async def test_messages_acknowledged_while_rabbitmq_is_stopped_are_offered_once_it_is_back(
    aiohttp_client, redis_store, private_rabbit: PrivateRabbit
) -> None:  # type: ignore[no-untyped-def]
    publisher = AmqpPublisher(private_rabbit.url)
    queue = f"work-{uuid.uuid4().hex[:10]}"  # the private node is shared by the run's fault tests
    config = gateway_config(routing={"rules": None, "default_queue": queue})
    client = await aiohttp_client(build_app(config, store=redis_store, publisher=publisher))
    await eventually(publisher.ready, timeout=30)
    await asyncio.to_thread(private_rabbit.stop_app)
    try:
        await eventually(lambda: not publisher.ready(), timeout=30)
        assert (await client.get("/readyz")).status == 503
        accepted = {}
        for i in range(25):
            body, headers = signed_api_body({"id": f"outage-{i}", "from": {"id": f"cust-{i}"}, "text": f"message {i}"})
            resp = await client.post("/webhooks/api", data=body, headers=headers)
            assert resp.status == 200  # intake goes on into the outbox
            accepted[(await resp.json())["conversation_id"]] = i
        assert (await redis_store.outbox_stats()).depth >= 25
    finally:
        await asyncio.to_thread(private_rabbit.start_app)
    await eventually(publisher.ready, timeout=60)
    offers = await collect(private_rabbit.url, queue, want=25, timeout=60)
    conversations = [json.loads(m.body)["conversation_id"] for m in offers]
    assert sorted(conversations) == sorted(accepted)
    assert len({m.message_id for m in offers}) == 25
    await delete_queues(private_rabbit.url, queue)

    async def drained() -> bool:
        return (await redis_store.outbox_stats()).depth == 0

    await eventually(drained, timeout=30)

    async def ready() -> bool:
        return (await client.get("/readyz")).status == 200

    await eventually(ready, timeout=30)
