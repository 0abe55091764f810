"""Storage: the ``Store`` contract and its Redis and in-memory implementations."""

from __future__ import annotations

from gateway.storage.base import StorageUnavailable, Store
from gateway.storage.memory import MemoryStore
from gateway.storage.redis_store import RedisStore


def open_store(url: str, *, prefix: str = "gw") -> Store:
    if url.startswith("memory://"):
        return MemoryStore(prefix=prefix)
    return RedisStore(url, prefix=prefix)


__all__ = ["MemoryStore", "RedisStore", "StorageUnavailable", "Store", "open_store"]
