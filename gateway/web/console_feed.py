"""The live feed behind the console: the events this gateway emits, handed to listeners
in this process (the console's websockets).

Every state change is already published once, from the outbox, to the ``gateway.events``
topic exchange. Each gateway process reads its own copy of all of them through an
exclusive, auto-delete queue bound to ``#``: a console connected to one process sees what
any process did (a webhook taken by another process, a timer fired elsewhere). With a
``memory://`` broker there is one process and the publisher is in it, so the feed
subscribes to the ``MemoryPublisher`` directly.

At-most-once is enough here. The console treats an event as "this changed, reload it"
and fetches the truth from the API; after the feed's connection comes back (or a listener
fell behind) listeners are told to reload everything (``resync``). So the queue is
consumed without acknowledgements, is capped, and is not durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection, ExchangeType
from aiohttp import web

from gateway.model import Conversation
from gateway.routing.broker_connection import stay_connected
from gateway.routing.publisher import MemoryPublisher, Outgoing, Publisher
from gateway.routing.topology import EVENTS_EXCHANGE

log = logging.getLogger(__name__)

Deliver = Callable[[str, bytes], None]  # routing key, JSON body
Resync = Callable[[], None]
Lookup = Callable[[str], Awaitable[Conversation | None]]

BACKLOG = 10_000  # events waiting for the dispatcher; beyond that listeners resync
QUEUE_MAX_LENGTH = 10_000  # the broker-side cap of this process's feed queue
IDLE_GRACE = 30.0  # seconds without a console before the feed unsubscribes


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event as listeners get it, with the conversation it concerns as it is now."""

    routing_key: str
    body: dict[str, Any]
    conversation: Conversation | None = None

    @property
    def conversation_id(self) -> str | None:
        value = self.body.get("conversation_id")
        return value if isinstance(value, str) and value else None


class Listener(Protocol):
    def wants(self, event: FeedEvent) -> bool: ...
    def push_event(self, event: FeedEvent) -> None: ...
    def push_resync(self) -> None: ...


class EventSource(Protocol):
    async def start(self, deliver: Deliver, resync: Resync) -> None: ...
    async def activate(self) -> None:
        """A console is watching: receive events (connect and subscribe if need be)."""
        ...

    async def deactivate(self) -> None:
        """Nobody is watching: stop receiving, so the broker stops routing to us."""
        ...

    def ready(self) -> bool: ...
    async def close(self) -> None: ...


class MemoryEventSource:
    """The in-process broker: every event the relay publishes, as it is published."""

    def __init__(self, publisher: MemoryPublisher) -> None:
        self._publisher = publisher
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        def on_publish(message: Outgoing) -> None:
            if message.exchange == EVENTS_EXCHANGE:
                deliver(message.routing_key, message.body)

        self._unsubscribe = self._publisher.subscribe(on_publish)

    async def activate(self) -> None:
        return None  # in process: subscribing costs nothing, it stays on

    async def deactivate(self) -> None:
        return None

    def ready(self) -> bool:
        return self._unsubscribe is not None

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class AmqpEventSource:
    """A private queue on ``gateway.events`` bound to ``#``; connects in the background,
    so a broker that is away never holds up start-up (the console then simply has no
    live updates until it is back). ``url``: a broker, or a cluster's nodes (any one)."""

    def __init__(self, url: str | list[str], *, reconnect_interval: float = 1.0) -> None:
        self._urls = [url] if isinstance(url, str) else list(url)
        self._reconnect_interval = reconnect_interval
        self.queue_name = f"gateway.console.{socket.gethostname()}.{os.getpid()}.{os.urandom(4).hex()}"
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._bound = asyncio.Event()
        self._deliver: Deliver | None = None
        self._resync: Resync | None = None

    def __repr__(self) -> str:  # the URL holds credentials
        return f"AmqpEventSource(queue={self.queue_name!r})"

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        # Nothing is subscribed until a console connects (``activate``): under load, a
        # queue bound to every event costs the broker and this process for nobody.
        self._deliver, self._resync = deliver, resync

    def ready(self) -> bool:
        return self._bound.is_set() and self._connection is not None and not self._connection.is_closed

    async def activate(self) -> None:
        if self._task is None or (self._task.done() and self._connection is None):
            self._task = asyncio.create_task(self._connect_loop(), name="event-feed-connect")

    async def deactivate(self) -> None:
        await self.close()
        self._task = None
        self._connection = None

    async def _connect_loop(self) -> None:
        def connected(connection: AbstractRobustConnection) -> None:
            self._connection = connection

        await stay_connected(
            self._urls,
            self._subscribe,
            what="event feed",
            on_connected=connected,
            on_lost=self._lost,
            reconnect_interval=self._reconnect_interval,
        )

    async def _subscribe(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        # A name of our own (not server-named): the robust connection declares it again,
        # with its binding and consumer, after a reconnect.
        queue = await channel.declare_queue(
            self.queue_name,
            exclusive=True,
            auto_delete=True,
            arguments={"x-max-length": QUEUE_MAX_LENGTH, "x-overflow": "drop-head"},
        )
        await queue.bind(exchange, routing_key="#")
        await queue.consume(self._on_message, no_ack=True)
        if hasattr(connection, "reconnect_callbacks"):  # robust: one broker
            connection.reconnect_callbacks.add(self._on_reconnect)
        connection.close_callbacks.add(self._on_close)
        self._connection = connection  # before the consoles hear "live" (on_connected comes after)
        self._bound.set()
        log.info("event feed subscribed", extra={"queue": self.queue_name})
        if self._resync is not None:
            self._resync()  # what happened before the subscription is unknown to the consoles

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._deliver is not None:
            self._deliver(message.routing_key or "", message.body)

    def _on_close(self, *_: Any) -> None:
        self._lost()

    def _lost(self) -> None:
        # The consoles hear it (a resync saying not live), instead of trusting a badge
        # that said live when they connected.
        was_bound = self._bound.is_set()
        self._bound.clear()
        if was_bound and self._resync is not None:
            self._resync()

    def _on_reconnect(self, *_: Any) -> None:
        # Whatever happened while we were away is unknown: every listener reloads.
        self._bound.set()
        log.info("event feed reconnected; consoles reload")
        if self._resync is not None:
            self._resync()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._bound.clear()


def open_source(broker_url: str | list[str], publisher: Publisher) -> EventSource:
    """Events go wherever the publisher puts them: in process, or to RabbitMQ."""
    if isinstance(publisher, MemoryPublisher):
        return MemoryEventSource(publisher)
    return AmqpEventSource(broker_url)


class EventFeed:
    """Fans events out to listeners, looking each event's conversation up once.

    The source hands events over synchronously; a single dispatcher task does the look-up
    and the fan-out, so a slow store never holds up the broker connection, and a burst
    beyond ``BACKLOG`` turns into one ``resync`` instead of unbounded memory.
    """

    def __init__(self, source: EventSource, lookup: Lookup) -> None:
        self.source = source
        self._lookup = lookup
        self._listeners: set[Listener] = set()
        self._backlog: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=BACKLOG)
        self._overflowed = False
        self._task: asyncio.Task[None] | None = None
        self._idle_since: float | None = None
        self._chores: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"EventFeed(source={self.source!r}, listeners={len(self._listeners)})"

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def ready(self) -> bool:
        return self.source.ready()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._dispatch(), name="event-feed")
        await self.source.start(self._deliver, self._resync)

    async def close(self) -> None:
        for chore in list(self._chores):
            chore.cancel()
        await self.source.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def add(self, listener: Listener) -> None:
        self._listeners.add(listener)
        self._idle_since = None
        if len(self._listeners) == 1:
            self._background(self.source.activate())

    def remove(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        if not self._listeners:
            self._idle_since = asyncio.get_running_loop().time()
            self._background(self._deactivate_when_idle())

    async def _deactivate_when_idle(self) -> None:
        await asyncio.sleep(IDLE_GRACE)
        idle = self._idle_since
        if not self._listeners and idle is not None and asyncio.get_running_loop().time() - idle >= IDLE_GRACE:
            await self.source.deactivate()

    def _background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    def _deliver(self, routing_key: str, body: bytes) -> None:
        if not self._listeners:
            return  # nobody is watching: nothing to look up
        try:
            self._backlog.put_nowait((routing_key, body))
        except asyncio.QueueFull:
            self._overflowed = True

    def _resync(self) -> None:
        for listener in list(self._listeners):
            listener.push_resync()

    async def _dispatch(self) -> None:
        while True:
            routing_key, raw = await self._backlog.get()
            if self._overflowed and self._backlog.empty():
                self._overflowed = False
                self._resync()
            try:
                await self._fan_out(routing_key, raw)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event feed: an event could not be handed out", extra={"event": routing_key})

    async def _fan_out(self, routing_key: str, raw: bytes) -> None:
        if not self._listeners:
            return
        try:
            body = json.loads(raw)
        except ValueError:
            log.warning("event feed: an event body is not JSON", extra={"event": routing_key})
            return
        if not isinstance(body, dict):
            return
        event = FeedEvent(routing_key=routing_key, body=body)
        if event.conversation_id:
            try:
                conversation = await self._lookup(event.conversation_id)
            except Exception as exc:  # storage away: agents may only see what they can be shown
                log.warning("event feed: conversation look-up failed: %s", type(exc).__name__)
                conversation = None
            event = FeedEvent(routing_key=routing_key, body=body, conversation=conversation)
        for listener in list(self._listeners):
            if listener.wants(event):
                listener.push_event(event)


FEED = web.AppKey("event_feed", EventFeed)
