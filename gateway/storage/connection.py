"""What every part of the Redis store shares: its two clients, the key layout, running a
Lua script, and turning a lost connection into ``StorageUnavailable``.

With ``min_replicas`` ≥ 1 every script that may write runs in one pipeline with a
``WAIT``: the script, a write of a marker key, then ``WAIT min_replicas timeout`` on the
same connection. WAIT counts the replicas that have everything this connection wrote;
the marker write makes that "everything the primary had" — so a duplicate answered from
a record another process wrote is confirmed too. Fewer replicas in time:
``ReplicationUnconfirmed`` (a ``StorageUnavailable``: 503 / SMTP 451); the write stays on
the primary and the provider's retry finds it there, or on the replica promoted after it.

The clients come ready-made, so one code path serves a real Redis server
(``RedisStore``) and the in-memory engine (``MemoryStore``, fakeredis).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc

from gateway.storage.base import ReplicationUnconfirmed, StorageUnavailable
from gateway.storage.keys import KeyLayout
from gateway.storage.scripts import script_source

log = logging.getLogger(__name__)

UNAVAILABLE = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.BusyLoadingError,
    rexc.ReadOnlyError,
    rexc.OutOfMemoryError,  # maxmemory reached with noeviction: writes refused for now
    OSError,
)
# Error replies that mean "the server cannot take writes now", not "this call is wrong":
# a failed snapshot (MISCONF), a replica cut off from its primary, a cluster not ready.
OUTAGE_REPLIES = ("MISCONF", "MASTERDOWN", "NOREPLICAS", "CLUSTERDOWN", "TRYAGAIN", "LOADING", "READONLY", "OOM")


def is_outage(exc: BaseException) -> bool:
    """Whether a Redis error is the server being unable to serve (503 / SMTP 451, the
    provider retries), rather than a bug (500)."""
    if isinstance(exc, UNAVAILABLE):
        return True
    return isinstance(exc, rexc.ResponseError) and str(exc).lstrip().upper().startswith(OUTAGE_REPLIES)


# Scripts that never write: nothing to wait for (a duplicate they find is confirmed apart).
READ_ONLY = frozenset({"prepare"})
# Steps whose second run, after a first that may or may not have happened, answers the
# same: a read, an intake deduplicated by provider id, an edit by its change id, a
# delivery status that only moves forward, a claim by the agent who has it ("already").
RETRY_ONCE = frozenset({"prepare", "ingest", "amend", "status", "claim"})


class Connection(KeyLayout):
    """``client`` serves requests; ``blocking`` only the blocking outbox reads, so a
    relay waiting for new entries never holds a connection requests need."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        client: aioredis.Redis,
        blocking: aioredis.Redis,
        min_replicas: int = 0,
        replica_timeout: float = 0.2,
    ) -> None:
        super().__init__(prefix)
        self.url = url
        self._redis = client
        self._blocking = blocking
        self._scripts: dict[str, Any] = {}
        self.min_replicas = min_replicas
        self.replica_timeout_ms = max(1, int(replica_timeout * 1000))

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (rexc.RedisError, OSError) as exc:
            if not is_outage(exc):
                raise
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}") from exc

    async def _run(self, name: str, *args: Any) -> Any:
        """Run ``lua/<name>.lua`` with the prefix and ``args`` as ARGV."""
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._redis.register_script(script_source(name))
        try:  # inline rather than ``_guard``: this is every intake's path
            return await self._call(name, script, args)
        except rexc.ConnectionError as exc:
            if name not in RETRY_ONCE:
                raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}") from exc
            # The connection was lost mid-step (a failover: the primary died, or Sentinel
            # closed the clients of one it demoted) and the pool reconnects, through
            # Sentinel to the primary of now. The step is idempotent: run it again, once.
            log.info("storage: %s retried after a lost connection (%s)", name, type(exc).__name__)
        except (rexc.RedisError, OSError) as exc:
            if not is_outage(exc):
                raise
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}") from exc
        try:
            return await self._call(name, script, args)
        except (rexc.RedisError, OSError) as exc:
            if not is_outage(exc):
                raise
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}") from exc

    async def _call(self, name: str, script: Any, args: tuple[Any, ...]) -> Any:
        if self.min_replicas <= 0 or name in READ_ONLY:
            return await script(keys=[], args=[self.prefix, *args])
        pipe = self._redis.pipeline(transaction=False)
        await script(keys=[], args=[self.prefix, *args], client=pipe)
        reply, _, _ = await self._replicated(pipe)
        return reply

    async def _confirm_replicated(self) -> None:
        """Return once ``min_replicas`` replicas hold everything the primary has now (no-op
        without ``min_replicas``); for an answer read from a record another call wrote."""
        if self.min_replicas <= 0:
            return
        async with self._guard():
            await self._replicated(self._redis.pipeline(transaction=False))

    async def _replicated(self, pipe: Any) -> list[Any]:
        pipe.incr(self.k("ha", "sync"))
        pipe.wait(self.min_replicas, self.replica_timeout_ms)
        replies = await pipe.execute()
        if int(replies[-1]) < self.min_replicas:
            raise ReplicationUnconfirmed(
                f"write confirmed by {replies[-1]} of {self.min_replicas} replicas within {self.replica_timeout_ms} ms"
            )
        return replies

    async def close(self) -> None:
        await self._redis.aclose()
        await self._blocking.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (*UNAVAILABLE, rexc.RedisError):
            return False
