"""Storage behaviour lives once: in the Lua scripts and the one ``RedisStore`` that runs
them, on a Redis server or (``MemoryStore``) on fakeredis's in-memory engine."""

from __future__ import annotations

import re

from gateway.storage import MemoryStore, RedisStore
from gateway.storage.base import Store
from gateway.storage.scripts import LUA_DIR

STORAGE = LUA_DIR.parent


def test_the_memory_store_runs_every_store_method_of_the_redis_store() -> None:
    methods = [name for name in vars(Store) if not name.startswith("_")]
    assert len(methods) > 30
    assert [m for m in methods if getattr(MemoryStore, m) is not getattr(RedisStore, m)] == []


def test_every_script_is_run_and_every_script_run_exists() -> None:
    run = set()
    for module in STORAGE.glob("*.py"):
        run |= set(re.findall(r'_run\(\s*"(\w+)"', module.read_text()))
    scripts = {path.stem for path in LUA_DIR.glob("*.lua")} - {"lib"}
    assert run == scripts


async def test_each_memory_store_has_its_own_data() -> None:
    a, b = MemoryStore(), MemoryStore()
    await a.shared_set("token", "a's", ttl_ms=60_000)
    assert await a.shared_get("token") == "a's"
    assert await b.shared_get("token") is None
    await a.close()
    await b.close()
