"""Storage: the ``Store`` contract and its Redis and in-memory implementations."""

from __future__ import annotations

from gateway.storage.base import StorageUnavailable, Store
from gateway.storage.memory import MemoryStore
from gateway.storage.redis_store import RedisStore


def open_store(url: str, *, prefix: str = "gw", min_replicas: int = 0, replica_timeout: float = 0.2) -> Store:
    if url.startswith("memory://"):
        return MemoryStore(prefix=prefix)
    return RedisStore(url, prefix=prefix, min_replicas=min_replicas, replica_timeout=replica_timeout)


__all__ = ["MemoryStore", "RedisStore", "StorageUnavailable", "Store", "open_store"]
