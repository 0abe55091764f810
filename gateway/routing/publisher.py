"""Publishing to RabbitMQ with publisher confirms, and an in-memory stand-in.

The outbox relay is the only caller: it hands over one message at a time (many
concurrently) and removes an outbox entry only when ``publish`` returned, i.e. the
broker confirmed it. Anything else raises ``PublishFailed`` and the entry stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import aiormq
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection, ExchangeType

from gateway.routing.broker_connection import stay_connected
from gateway.routing.topology import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    EVENTS_EXCHANGE,
    WORK_EXCHANGE,
    dead_letter_queue_arguments,
    work_queue_arguments,
)

log = logging.getLogger(__name__)


class PublishFailed(Exception):
    """Not confirmed: broker down, nack, unroutable, or no confirm within the timeout."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    priority: int = 0
    type: str = ""
    timestamp: float | None = None


class Publisher(Protocol):
    async def start(self, queues: Iterable[str]) -> None: ...
    async def declare_queues(self, queues: Iterable[str]) -> None: ...
    async def publish(self, message: Outgoing) -> None: ...
    def ready(self) -> bool: ...
    async def close(self) -> None: ...


class AmqpPublisher:
    """Connects in the background so intake never waits on it: to ``url``, or to any of
    ``url``'s nodes when it is a list (a cluster; see ``broker_connection``). A node lost
    mid-publish fails the publishes awaiting its confirms (``PublishFailed``); their outbox
    entries stay and go out again, with the same ``message_id``, through the next node.
    ``queue_type``: ``classic`` (priority queues) or ``quorum`` (replicated, no priority)."""

    def __init__(
        self,
        url: str | list[str],
        *,
        publish_timeout: float = 5.0,
        reconnect_interval: float = 1.0,
        queue_type: str = "classic",
    ) -> None:
        self._urls = [url] if isinstance(url, str) else list(url)
        self._queue_type = queue_type
        self._timeout = publish_timeout
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._queues: set[str] = set()
        self._connector: asyncio.Task[None] | None = None
        self._declare_lock = asyncio.Lock()

    def __repr__(self) -> str:  # the URL holds credentials
        return "AmqpPublisher()"

    async def start(self, queues: Iterable[str]) -> None:
        self._queues.update(queues)
        self._connector = asyncio.create_task(self._connect_loop(), name="amqp-connect")

    async def _connect_loop(self) -> None:
        async def setup(connection: AbstractRobustConnection) -> list[AbstractRobustChannel]:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await self._declare_topology(channel)
            self._channel = channel
            return [channel]

        def connected(connection: AbstractRobustConnection) -> None:
            self._connection = connection
            log.info("broker connected")

        def lost() -> None:
            self._channel = None

        await stay_connected(
            self._urls,
            setup,
            what="publisher",
            on_connected=connected,
            on_lost=lost,
            reconnect_interval=self._reconnect_interval,
        )

    async def _declare_topology(self, channel: AbstractRobustChannel) -> None:
        work = await channel.declare_exchange(WORK_EXCHANGE, ExchangeType.DIRECT, durable=True)
        events = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.FANOUT, durable=True)
        dead = await channel.declare_queue(
            DEAD_LETTER_QUEUE, durable=True, arguments=dead_letter_queue_arguments(self._queue_type)
        )
        await dead.bind(dlx, routing_key="#")
        self._exchanges = {WORK_EXCHANGE: work, EVENTS_EXCHANGE: events}
        for name in sorted(self._queues):
            await self._declare_queue(channel, work, name)

    async def _declare_queue(self, channel: AbstractRobustChannel, work: AbstractExchange, name: str) -> None:
        queue = await channel.declare_queue(name, durable=True, arguments=work_queue_arguments(self._queue_type))
        await queue.bind(work, routing_key=name)

    async def declare_queues(self, queues: Iterable[str]) -> None:
        new = set(queues) - self._queues
        self._queues.update(new)
        if self._channel is not None and new:
            async with self._declare_lock:
                for name in sorted(new):
                    await self._declare_queue(self._channel, self._exchanges[WORK_EXCHANGE], name)

    def ready(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def publish(self, message: Outgoing) -> None:
        if not self.ready():
            raise PublishFailed("broker not connected")
        channel = self._channel
        assert channel is not None
        properties = aiormq.spec.Basic.Properties(
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,  # persistent
            message_id=message.message_id,
            priority=message.priority,
            message_type=message.type or None,
            timestamp=datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp else None,
        )
        try:
            # aiormq's publish directly: aio-pika's Message object costs more than the
            # publish itself on the relay's hot path. Offers must reach a queue
            # (mandatory: a return raises); events may have no subscriber at all.
            underlay = await channel.get_underlay_channel()
            await underlay.basic_publish(
                message.body,
                exchange=message.exchange,
                routing_key=message.routing_key,
                properties=properties,
                mandatory=message.exchange == WORK_EXCHANGE,
                timeout=self._timeout,
                # The confirm is what counts; waiting for each frame to reach the socket
                # first would serialise the window behind the channel lock.
                wait=False,
            )
        except aiormq.exceptions.DeliveryError as exc:
            if message.exchange == WORK_EXCHANGE:
                # Unroutable: someone removed the queue. Declare it again for the retry.
                with contextlib.suppress(Exception):
                    self._queues.discard(message.routing_key)
                    await self.declare_queues([message.routing_key])
            raise PublishFailed(f"not confirmed: {type(exc).__name__}") from exc
        except TimeoutError as exc:
            raise PublishFailed("no confirm within the publish timeout") from exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise PublishFailed(f"publish failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connector
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()


@dataclass
class MemoryPublisher:
    """Keeps what was published, per queue for offers; the embedded default's broker."""

    queues: dict[str, list[Outgoing]] = field(default_factory=dict)
    events: list[Outgoing] = field(default_factory=list)
    fail: bool = False  # tests flip this to play an outage
    max_kept: int = 10000
    listeners: list[Callable[[Outgoing], None]] = field(default_factory=list)

    def subscribe(self, listener: Callable[[Outgoing], None]) -> Callable[[], None]:
        """Call ``listener`` with every message once it is published (the console's live
        feed); returns the unsubscribe function."""
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener) if listener in self.listeners else None

    async def start(self, queues: Iterable[str]) -> None:
        await self.declare_queues(queues)

    async def declare_queues(self, queues: Iterable[str]) -> None:
        for name in queues:
            self.queues.setdefault(name, [])

    def ready(self) -> bool:
        return not self.fail

    async def publish(self, message: Outgoing) -> None:
        if self.fail:
            raise PublishFailed("memory broker marked as failing")
        if message.exchange == WORK_EXCHANGE:
            if message.routing_key not in self.queues:
                raise PublishFailed(f"unroutable: no queue {message.routing_key!r}")
            kept = self.queues[message.routing_key]
        else:
            kept = self.events
        kept.append(message)
        del kept[: max(0, len(kept) - self.max_kept)]
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception:  # a listener's bug is not a failed publish
                log.exception("a publish listener failed")

    async def close(self) -> None:
        return None


def open_publisher(url: str | list[str], *, publish_timeout: float = 5.0, queue_type: str = "classic") -> Publisher:
    """``url``: one broker, or the nodes of one cluster (``broker.urls``)."""
    if isinstance(url, str) and url.startswith("memory://"):
        return MemoryPublisher()
    return AmqpPublisher(url, publish_timeout=publish_timeout, queue_type=queue_type)
