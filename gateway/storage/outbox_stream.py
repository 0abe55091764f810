"""The outbox in the Redis store: a stream (``<prefix>:outbox``) of AMQP messages awaiting
a broker confirm, read through one consumer group (``relay``) so every entry goes to one
relay at a time and comes back to another when that relay dies."""

from __future__ import annotations

import contextlib
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc

from gateway.storage.base import OutboxEntry, OutboxStats
from gateway.storage.connection import Connection
from gateway.storage.records import outbox_entry

GROUP = "relay"


class OutboxStream(Connection):
    async def start(self) -> None:
        await self._ensure_group()

    async def _ensure_group(self) -> None:
        async with self._guard():
            with contextlib.suppress(rexc.ResponseError):  # BUSYGROUP: it exists already
                await self._redis.xgroup_create(self.k("outbox"), GROUP, id="0", mkstream=True)

    async def _xreadgroup(
        self, client: aioredis.Redis, consumer: str, start: str, count: int, block: int | None
    ) -> Any:
        stream = self.k("outbox")
        async with self._guard():
            try:
                return await client.xreadgroup(GROUP, consumer, {stream: start}, count=count, block=block)
            except rexc.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
        # Storage was down at start-up (or flushed): create the group and read again.
        await self._ensure_group()
        async with self._guard():
            return await client.xreadgroup(GROUP, consumer, {stream: start}, count=count, block=block)

    async def _read_new(self, consumer: str, count: int, block_ms: int) -> Any:
        """Entries no relay has had yet, waiting up to ``block_ms`` for one to arrive."""
        client = self._blocking if block_ms else self._redis
        return await self._xreadgroup(client, consumer, ">", count, block_ms or None)

    @staticmethod
    def _entries(raw: list[Any]) -> list[OutboxEntry]:
        # An entry deleted while pending comes back without fields.
        return [outbox_entry(entry_id, fields) for entry_id, fields in raw if fields]

    async def outbox_read(self, consumer: str, *, count: int, block_ms: int, retry_own: bool) -> list[OutboxEntry]:
        if retry_own:
            reply = await self._xreadgroup(self._redis, consumer, "0", count, None)
        else:
            reply = await self._read_new(consumer, count, block_ms)
        if not reply:
            return []
        return self._entries(reply[0][1])

    async def outbox_reclaim(self, consumer: str, *, min_idle_ms: int, count: int) -> list[OutboxEntry]:
        async with self._guard():
            reply = await self._redis.xautoclaim(self.k("outbox"), GROUP, consumer, min_idle_ms, "0-0", count=count)
        return self._entries(reply[1])

    async def outbox_ack(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        stream = self.k("outbox")
        async with self._guard():
            pipe = self._redis.pipeline(transaction=True)
            pipe.xack(stream, GROUP, *entry_ids)
            pipe.xdel(stream, *entry_ids)
            await pipe.execute()

    async def outbox_stats(self) -> OutboxStats:
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            pipe.xlen(self.k("outbox"))
            pipe.xrange(self.k("outbox"), count=1)
            depth, first = await pipe.execute()
        oldest = int(first[0][0].split("-")[0]) if first else None
        return OutboxStats(depth=depth, oldest_ms=oldest)
