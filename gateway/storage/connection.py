"""What every part of the Redis store shares: its two clients, the key layout, running a
Lua script, and turning a lost connection into ``StorageUnavailable``.

The clients come ready-made, so one code path serves a real Redis server
(``RedisStore``) and the in-memory engine (``MemoryStore``, fakeredis).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc

from gateway.storage.base import StorageUnavailable
from gateway.storage.keys import KeyLayout
from gateway.storage.scripts import script_source

UNAVAILABLE = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError, OSError)


class Connection(KeyLayout):
    """``client`` serves requests; ``blocking`` only the blocking outbox reads, so a
    relay waiting for new entries never holds a connection requests need."""

    def __init__(self, url: str, *, prefix: str, client: aioredis.Redis, blocking: aioredis.Redis) -> None:
        super().__init__(prefix)
        self.url = url
        self._redis = client
        self._blocking = blocking
        self._scripts: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except UNAVAILABLE as exc:
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}") from exc

    async def _run(self, name: str, *args: Any) -> Any:
        """Run ``lua/<name>.lua`` with the prefix and ``args`` as ARGV."""
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._redis.register_script(script_source(name))
        async with self._guard():
            return await script(keys=[], args=[self.prefix, *args])

    async def close(self) -> None:
        await self._redis.aclose()
        await self._blocking.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (*UNAVAILABLE, rexc.RedisError):
            return False
