from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from gateway.storage import RedisStore
from tests.conftest import REDIS_URL, drop_prefix, eventually, unique_prefix
from tests.processes import GatewayProcess, process_config


class EventTap:
    """A queue bound to every event on gateway.events, as another system would bind one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[tuple[str, str | None, dict[str, Any]]] = []
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self.url)
        channel = await self._connection.channel()
        exchange = self._exchange = await channel.declare_exchange(
            "gateway.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append((message.routing_key or "", message.message_id, json.loads(message.body)))

        await queue.consume(on_message)

    def of(self, kind: str, conversation_id: str) -> list[dict[str, Any]]:
        return [body for rk, _, body in self.events if rk == kind and body.get("conversation_id") == conversation_id]

    async def flush(self) -> None:
        """Every event confirmed to a gateway before this call has reached the tap: a
        marker published now queues behind them and arrives last."""
        assert self._exchange is not None
        marker = f"marker-{uuid.uuid4().hex}"
        body = json.dumps({"conversation_id": marker}).encode()
        await self._exchange.publish(aio_pika.Message(body), routing_key="test.marker")
        await eventually(lambda: self.of("test.marker", marker), timeout=30)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[EventTap]:
    t = EventTap(amqp_url)
    await t.start()
    yield t
    await t.close()


@pytest.fixture
async def shared_prefix() -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    await drop_prefix(prefix)


@pytest.fixture
def gateways(tmp_path: Path, amqp_url: str, shared_prefix: str, work_queue: str) -> Iterator[Any]:
    """A factory of gateway processes sharing one Redis prefix and one RabbitMQ vhost; the
    test's own work queue is the default queue."""
    started: list[GatewayProcess] = []

    def make(name: str, **sections: Any) -> GatewayProcess:
        sections["routing"] = {"default_queue": work_queue, **sections.get("routing", {})}
        config = process_config(storage_url=REDIS_URL, prefix=shared_prefix, broker_url=amqp_url, **sections)
        gw = GatewayProcess(config, tmp_path, name)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.kill()


async def settled(prefix: str, *, timers: bool = True) -> None:
    """Every outbox entry in the shared store confirmed by RabbitMQ and, with ``timers``,
    no timer left pending that could fire later."""
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:

        async def quiet() -> bool:
            if timers and await store.timer_count() != 0:
                return False
            return (await store.outbox_stats()).depth == 0

        await eventually(quiet, timeout=60)
    finally:
        await store.close()
