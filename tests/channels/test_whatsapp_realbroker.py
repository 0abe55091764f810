"""WhatsApp's 24-hour window on real Redis and real RabbitMQ: ``window.closing`` is published
on the ``gateway.events`` exchange for a customer still unanswered when the window is about
to close, and never for one an agent answered in time."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import AmqpPublisher
from gateway.storage import RedisStore
from gateway.wiring.services import SERVICES
from tests.channels.social_fakes import FakeProvider, reply, start_fake
from tests.channels.test_meta_whatsapp import (
    ACCESS_TOKEN,
    APP_SECRET,
    CHAN,
    CONFIG_NUMBER_ID,
    VERIFY_TOKEN,
    conversation_id,
    delivery,
    graph_answer,
    post,
    text_message,
    value,
)
from tests.conftest import eventually
from tests.helpers import auth, gateway_config
from tests.timing import ManualClock

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]

DAY = 24 * 3600
LEAD = 3.0  # reply_tracking.window_closing_lead


@pytest.fixture
async def queue_name(amqp_url: str) -> AsyncIterator[str]:
    """A work queue of this test's own, so its offers never wait in another test's way."""
    name = f"wa-window-{uuid.uuid4().hex[:8]}"
    yield name
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(name)
    finally:
        await connection.close()


class ClosingTap:
    """A temporary queue bound to ``gateway.events`` with the routing key ``window.closing``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, dict[str, Any]]] = []
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.exchange: aio_pika.abc.AbstractExchange | None = None

    async def start(self, url: str) -> None:
        self.connection = await aio_pika.connect_robust(url)
        channel = await self.connection.channel()
        exchange = self.exchange = await channel.declare_exchange(
            "gateway.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="window.closing")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append((message.routing_key or "", message.message_id, json.loads(message.body)))

        await queue.consume(on_message)

    def of(self, cid: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        return [e for e in self.events if e[2].get("conversation_id") == cid]

    async def flush(self) -> None:
        """Every event confirmed to the gateway before this call has reached the tap: a
        marker published now queues behind them and arrives last."""
        assert self.exchange is not None
        marker = f"marker-{uuid.uuid4().hex}"
        body = json.dumps({"conversation_id": marker}).encode()
        await self.exchange.publish(aio_pika.Message(body), routing_key="window.closing")
        await eventually(lambda: self.of(marker))


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[ClosingTap]:
    t = ClosingTap()
    await t.start(amqp_url)
    yield t
    if t.connection is not None:
        await t.connection.close()


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/conversations/{cid}", headers=auth())
    assert resp.status == 200
    return await resp.json()


async def test_window_closing_reaches_gateway_events_only_for_the_unanswered_customer(
    aiohttp_client: Any,
    aiohttp_server: Any,
    redis_store: RedisStore,
    amqp_url: str,
    queue_name: str,
    tap: ClosingTap,
) -> None:
    graph = FakeProvider(graph_answer)
    publisher = AmqpPublisher(amqp_url)
    config = gateway_config(
        routing={"rules": None, "default_queue": queue_name},
        reply_tracking={"scan_interval": "50ms", "window_closing_lead": f"{LEAD}s"},
        channels={
            "whatsapp": {
                "app_secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN,
                "access_token": ACCESS_TOKEN,
                "phone_number_id": CONFIG_NUMBER_ID,
                "api_base_url": await start_fake(aiohttp_server, graph, "/v21.0"),
            }
        },
    )
    clock = ManualClock()
    client = await aiohttp_client(build_app(config, store=redis_store, publisher=publisher, clock=clock))
    await eventually(publisher.ready, timeout=30)

    # Both customers wrote almost 24 hours ago (by WhatsApp's clock): their windows close
    # 5 and 7 seconds later, and each closing timer falls due LEAD seconds before that.
    await post(client, delivery([value([text_message("wamid.WIN1", "还在吗？", seconds_ago=DAY - 5)])]))
    await post(client, delivery([value([text_message("wamid.WIN2", "请尽快回复", sender=CHAN, seconds_ago=DAY - 7)])]))
    unanswered = await conversation_id(redis_store)
    answered = await conversation_id(redis_store, CHAN)
    before = await conversation(client, unanswered)
    assert before["reply_tracking"]["state"] == "active"

    status, _ = await reply(client, answered, {"text": "您好，我们正在处理"})  # the clock stands: before its timer
    assert status == 202
    await eventually(lambda: graph.to("/messages"))

    expires = (await redis_store.get_conversation(unanswered)).window_expires_at  # type: ignore[union-attr]
    assert expires is not None
    clock.now = expires.timestamp() - LEAD + 0.5  # the unanswered one's closing timer is due
    [(routing_key, message_id, event)] = await eventually(lambda: tap.of(unanswered), timeout=30)
    assert routing_key == "window.closing" and event["type"] == "window.closing"
    assert datetime.fromisoformat(event["window_expires_at"].replace("Z", "+00:00")) == expires
    assert message_id == f"window.closing:{unanswered}:{int(expires.timestamp() * 1000)}"
    assert event["assignee"] == "" and event["contact_id"] == before["contact_id"]
    occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    assert 0 < (expires - occurred).total_seconds() <= LEAD  # announced ahead of the close, not after
    assert (await conversation(client, unanswered))["priority"] == min(9, before["priority"] + 2)

    # The answered conversation's closing timer falls due and runs too: it announces nothing,
    # and the unanswered one was announced once.
    answered_expires = (await redis_store.get_conversation(answered)).window_expires_at  # type: ignore[union-attr]
    assert answered_expires is not None
    clock.now = answered_expires.timestamp() - LEAD + 0.5
    services = client.app[SERVICES]
    await eventually(lambda: services.timers.fired.get("window_closing", 0) >= 2, timeout=30)
    assert await services.relay.drain(15)
    await tap.flush()
    assert tap.of(answered) == [] and len(tap.of(unanswered)) == 1
    assert (await conversation(client, answered))["priority"] == before["priority"]
