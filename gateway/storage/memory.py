"""The in-memory store: ``RedisStore`` itself, on fakeredis's in-memory engine.

The same Python and the same Lua scripts as against a real Redis server, run by
fakeredis (with ``lupa``, an embedded Lua 5.1) on a private ``FakeServer`` per store, so
there is one implementation of every storage step and stores never see each other's
data. Nothing survives the process and nothing is shared with other processes: it is
for trying the gateway and for tests, not for production.
"""

from __future__ import annotations

from typing import Any

import fakeredis

from gateway.storage.outbox_stream import GROUP
from gateway.storage.redis_store import RedisStore


class MemoryStore(RedisStore):
    def __init__(self, *, prefix: str = "gw") -> None:
        self.server = fakeredis.FakeServer()
        super().__init__("memory://", prefix=prefix, clients=(self._client(), self._client()))

    def _client(self) -> fakeredis.FakeAsyncRedis:
        return fakeredis.FakeAsyncRedis(server=self.server, decode_responses=True)

    def __repr__(self) -> str:
        return "MemoryStore()"

    @property
    def available(self) -> bool:
        """False makes every call fail as it does while Redis is unreachable
        (``StorageUnavailable``, a failing ping): for testing the 503/451 answers."""
        return bool(self.server.connected)

    @available.setter
    def available(self, value: bool) -> None:
        self.server.connected = value

    async def _read_new(self, consumer: str, count: int, block_ms: int) -> Any:
        # fakeredis 2.40 answers XREADGROUP ... COUNT n BLOCK ms at once when nothing is
        # new (real Redis waits). So: read without blocking; if nothing, block on a plain
        # XREAD from the group's last-delivered id (it returns as soon as an entry no
        # relay has had is there), then read again.
        reply = await self._xreadgroup(self._redis, consumer, ">", count, None)
        if reply or not block_ms:
            return reply
        stream = self.k("outbox")
        async with self._guard():
            groups = await self._redis.xinfo_groups(stream)
            last = next((g["last-delivered-id"] for g in groups if g["name"] == GROUP), "0-0")
            if not await self._blocking.xread({stream: last}, count=1, block=block_ms):
                return None
        return await self._xreadgroup(self._redis, consumer, ">", count, None)
