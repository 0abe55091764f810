"""Carrying web chat frames to whichever gateway process holds the visitor's socket.

An agent's reply is sent by the process whose timer scanner picked it up; the visitor's
websocket may be open on any other process (or on several, one per tab). The web chat
adapter publishes each frame here and every process hands it to its own sockets.

Why Redis pub/sub and not a RabbitMQ fanout: as soon as there is more than one gateway
process there is a shared Redis (the store; ``memory://`` storage is single-process by
nature), while the broker may still be ``memory://``; so Redis adds no moving part.
Frames go to a channel per visitor (``<prefix>:webchat:visitor:<id>``) and each process
holds one pattern subscription to all of them, dropping frames for visitors it does not
hold. A subscription per visitor would spare processes those frames, but would cost a
Redis round trip for every socket opened or closed (ten thousand of them when a deploy
reconnects every widget) and leave a window in which a reply races the subscription;
chat replies are a few per second, so every process seeing them all costs nothing.

Pub/sub is at-most-once, and that is enough: the reply is stored before it is
published, so a socket that misses it sees it in the history it loads on reconnect, and
after the bus itself reconnects every local socket is told to reload (``resync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis import exceptions as rexc

from gateway.channels.webchat.ports import BusUnavailable, Deliver, ReplyBus, Resync
from gateway.storage import MemoryStore, RedisStore
from gateway.storage.base import Store
from gateway.storage.sentinel import redis_client

log = logging.getLogger(__name__)


class MemoryBus:
    """One process: publishing is handing the frame straight to the local sockets."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    def __repr__(self) -> str:
        return "MemoryBus()"

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        self._deliver = deliver

    async def publish(self, visitor_id: str, frame: str) -> None:
        if self._deliver is None:
            raise BusUnavailable("the bus is not running")
        self._deliver(visitor_id, frame)

    async def close(self) -> None:
        self._deliver = None


class RedisBus:
    def __init__(self, url: str, *, prefix: str, ping_interval: float = 10.0, socket_timeout: float = 5.0) -> None:
        self._url = url
        self.channel_prefix = f"{prefix}:webchat:visitor:"
        self.ping_interval = ping_interval
        self._socket_timeout = socket_timeout
        self._publisher = redis_client(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self._deliver: Deliver | None = None
        self._resync: Resync | None = None
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def __repr__(self) -> str:  # the URL may hold a password
        return f"RedisBus(channels={self.channel_prefix + '*'!r})"

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        self._deliver, self._resync = deliver, resync
        self._task = asyncio.create_task(self._listen(), name="webchat-bus")
        # Replies published before the subscription exists would only be in the history;
        # wait a little for it, but never refuse to start because Redis is away.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), self._socket_timeout)

    async def publish(self, visitor_id: str, frame: str) -> None:
        try:
            await self._publisher.publish(self.channel_prefix + visitor_id, frame)
        except (rexc.RedisError, OSError) as exc:
            raise BusUnavailable(type(exc).__name__) from exc

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._publisher.aclose()

    async def _listen(self) -> None:
        backoff = 0.5
        first = True
        while True:
            # A new client each time: behind Sentinel it connects to the primary of now.
            client = redis_client(self._url, socket_timeout=None, socket_connect_timeout=self._socket_timeout)
            pubsub = client.pubsub()
            try:
                await self._subscribe(pubsub)
                self.subscribed.set()
                backoff = 0.5
                if not first and self._resync is not None:
                    log.info("web chat bus reconnected; sockets reload their history")
                    self._resync()
                first = False
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("web chat bus connection lost: %s", type(exc).__name__)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _subscribe(self, pubsub: aioredis.client.PubSub) -> None:
        await pubsub.psubscribe(self.channel_prefix + "*")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._socket_timeout
        while loop.time() < deadline:
            message = await pubsub.get_message(timeout=max(0.01, deadline - loop.time()))
            if message is not None and message["type"] == "psubscribe":
                return
        raise TimeoutError("no psubscribe confirmation")

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        """Deliver until the connection fails; a silent one is found by unanswered pings."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent: float | None = None
        cut = len(self.channel_prefix)
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = loop.time()
            if message is None:
                if ping_sent is None and now - last_heard > self.ping_interval:
                    await pubsub.ping()
                    ping_sent = now
                elif ping_sent is not None and now - ping_sent > self.ping_interval:
                    raise ConnectionError("the bus connection stopped answering pings")
                continue
            last_heard, ping_sent = now, None
            if message["type"] == "pmessage" and self._deliver is not None:
                try:
                    self._deliver(message["channel"][cut:], message["data"])
                except Exception:
                    log.exception("web chat frame delivery failed")


def open_bus(store: Store) -> ReplyBus:
    """Redis pub/sub next to a Redis store (shared by every process); else in-process.

    The in-memory store is a ``RedisStore`` on fakeredis, but it lives in one process,
    so its bus does too."""
    if isinstance(store, RedisStore) and not isinstance(store, MemoryStore):
        return RedisBus(store.url, prefix=store.prefix)
    return MemoryBus()
