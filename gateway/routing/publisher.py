"""Publishing to RabbitMQ with publisher confirms, and an in-memory stand-in.

The outbox relay is the only caller: it hands over a batch of messages at a time
(``publish_many``, several batches outstanding) and removes an outbox entry only when
the broker confirmed its message. Anything else is a ``PublishFailed`` and the entry stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

import aiormq
import pamqp.frame
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection, ExchangeType
from aiormq.abc import ChannelFrame
from pamqp.header import ContentHeader

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
    async def publish_many(self, messages: Sequence[Outgoing]) -> list[PublishFailed | None]: ...
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
        self._publish_frames: dict[tuple[int, str, str], bytes] = {}

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
        properties = _properties(message)
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

    async def publish_many(self, messages: Sequence[Outgoing]) -> list[PublishFailed | None]:
        """Publish ``messages`` in one socket write and wait for their confirms together
        (RabbitMQ confirms in runs): per message ``None`` once confirmed, else why not.

        This writes the frames ``aiormq.Channel.basic_publish`` would, under the same
        channel lock, with the same bookkeeping (delivery tags, confirmations, message id
        for returns): one write and one wait for the batch instead of one per message.
        """
        if not messages:
            return []
        if not self.ready():
            return [PublishFailed("broker not connected")] * len(messages)
        channel = self._channel
        assert channel is not None
        try:
            underlay = await channel.get_underlay_channel()
            confirmations = await self._write_batch(underlay, messages)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return [PublishFailed(f"publish failed: {type(exc).__name__}")] * len(messages)
        _, pending = await asyncio.wait(confirmations, timeout=self._timeout)
        for confirmation in pending:
            confirmation.cancel()
        outcomes: list[PublishFailed | None] = []
        unroutable: set[str] = set()
        for message, confirmation in zip(messages, confirmations, strict=True):
            if confirmation.cancelled():
                outcomes.append(PublishFailed("no confirm within the publish timeout"))
                continue
            exc = confirmation.exception()
            if exc is None:
                outcomes.append(None)
                continue
            if isinstance(exc, aiormq.exceptions.DeliveryError) and message.exchange == WORK_EXCHANGE:
                unroutable.add(message.routing_key)  # someone removed the queue
            outcomes.append(PublishFailed(f"not confirmed: {type(exc).__name__}"))
        if unroutable:
            # Declare them again for the retry.
            with contextlib.suppress(Exception):
                self._queues.difference_update(unroutable)
                await self.declare_queues(unroutable)
        return outcomes

    async def _write_batch(self, channel: aiormq.Channel, messages: Sequence[Outgoing]) -> list[asyncio.Future[None]]:
        confirmations: list[asyncio.Future[None]] = []
        payload: list[bytes] = []
        number = channel.number
        async with channel.lock:
            if channel.is_closed:
                raise aiormq.exceptions.ChannelInvalidStateError("channel closed")
            first_tag = channel.delivery_tag
            try:
                for message in messages:
                    channel.delivery_tag += 1
                    tag = channel.delivery_tag
                    confirmation = channel.create_future()
                    channel.confirmations[tag] = confirmation
                    channel.message_id_delivery_tag[message.message_id] = tag
                    confirmation.add_done_callback(partial(_forget_message_id, channel, message.message_id, tag))
                    confirmations.append(confirmation)
                    payload.append(self._publish_frame(number, message))
                    header = ContentHeader(properties=_properties(message), body_size=len(message.body))
                    payload.append(pamqp.frame.marshal(header, number))
                    payload.extend(pamqp.frame.marshal(part, number) for part in channel._split_body(message.body))
                await channel.write_queue.put(ChannelFrame(payload=b"".join(payload), should_close=False))
            except BaseException:
                # Nothing reached the broker: give the sequence numbers back, as aiormq does.
                for tag in range(first_tag + 1, channel.delivery_tag + 1):
                    channel.confirmations.pop(tag, None)
                for confirmation in confirmations:
                    confirmation.cancel()
                channel.delivery_tag = first_tag
                raise
        return confirmations

    def _publish_frame(self, number: int, message: Outgoing) -> bytes:
        """The marshalled Basic.Publish frame: the same few (exchange, routing key) pairs
        over and over, so kept rather than validated and packed for every message."""
        key = (number, message.exchange, message.routing_key)
        frame = self._publish_frames.get(key)
        if frame is None:
            if len(self._publish_frames) >= 4096:
                self._publish_frames.clear()
            # Offers must reach a queue (mandatory: a return fails the publish); events may
            # have no subscriber at all.
            publish = aiormq.spec.Basic.Publish(
                exchange=message.exchange, routing_key=message.routing_key, mandatory=message.exchange == WORK_EXCHANGE
            )
            frame = self._publish_frames[key] = pamqp.frame.marshal(publish, number)
        return frame

    async def close(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connector
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()


def _properties(message: Outgoing) -> aiormq.spec.Basic.Properties:
    return aiormq.spec.Basic.Properties(
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=2,  # persistent
        message_id=message.message_id,
        priority=message.priority,
        message_type=message.type or None,
        timestamp=datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp else None,
    )


def _forget_message_id(channel: aiormq.Channel, message_id: str, tag: int, _: asyncio.Future[None]) -> None:
    if channel.message_id_delivery_tag.get(message_id) == tag:
        channel.message_id_delivery_tag.pop(message_id)


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

    async def publish_many(self, messages: Sequence[Outgoing]) -> list[PublishFailed | None]:
        outcomes: list[PublishFailed | None] = []
        for message in messages:
            try:
                await self.publish(message)
                outcomes.append(None)
            except PublishFailed as exc:
                outcomes.append(exc)
        return outcomes

    async def close(self) -> None:
        return None


def open_publisher(url: str | list[str], *, publish_timeout: float = 5.0, queue_type: str = "classic") -> Publisher:
    """``url``: one broker, or the nodes of one cluster (``broker.urls``)."""
    if isinstance(url, str) and url.startswith("memory://"):
        return MemoryPublisher()
    return AmqpPublisher(url, publish_timeout=publish_timeout, queue_type=queue_type)
