"""Shared values (a provider's access token, a short lease on fetching it) — both stores."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gateway.storage import RedisStore
from gateway.storage.base import StorageUnavailable, Store
from tests.conftest import REDIS_URL, eventually


async def test_a_value_is_read_back_replaced_and_gone_after_its_lifetime(store: Store) -> None:
    assert await store.shared_get("wechat:token:wx1") is None
    await store.shared_set("wechat:token:wx1", '{"access_token": "T1"}', ttl_ms=60_000)
    assert await store.shared_get("wechat:token:wx1") == '{"access_token": "T1"}'
    await store.shared_set("wechat:token:wx1", "T2 — 第二个", ttl_ms=150)
    assert await store.shared_get("wechat:token:wx1") == "T2 — 第二个"
    assert await store.shared_get("wechat:token:wx2") is None  # keys are kept apart

    async def gone() -> bool:
        return await store.shared_get("wechat:token:wx1") is None

    await eventually(gone)


async def test_many_values_are_read_in_order_in_one_call(store: Store) -> None:
    assert await store.shared_get_many([]) == []
    await store.shared_set("presence:alice", "away", ttl_ms=60_000)
    await store.shared_set("console-seen:bob", "1", ttl_ms=60_000)
    got = await store.shared_get_many(["presence:alice", "presence:bob", "console-seen:bob", "console-seen:李雷"])
    assert got == ["away", None, "1", None]


async def test_set_if_absent_lets_exactly_one_racer_take_the_lease(store: Store) -> None:
    results = await asyncio.gather(
        *(store.shared_set_if_absent("lease", f"owner-{i}", ttl_ms=60_000) for i in range(20))
    )
    assert results.count(True) == 1
    assert await store.shared_get("lease") == f"owner-{results.index(True)}"
    assert not await store.shared_set_if_absent("lease", "late", ttl_ms=60_000)
    assert await store.shared_get("lease") == f"owner-{results.index(True)}"


async def test_a_lease_whose_holder_vanished_expires_and_can_be_taken_again(store: Store) -> None:
    assert await store.shared_set_if_absent("lease", "dead-holder", ttl_ms=100)
    assert not await store.shared_set_if_absent("lease", "waiter", ttl_ms=60_000)
    await eventually(lambda: store.shared_set_if_absent("lease", "waiter", ttl_ms=60_000))  # once it expired
    assert await store.shared_get("lease") == "waiter"


async def test_delete_if_removes_only_the_value_the_caller_saw(store: Store) -> None:
    assert not await store.shared_delete_if("token", "T1")  # nothing there
    await store.shared_set("token", "T2", ttl_ms=60_000)
    assert not await store.shared_delete_if("token", "T1")  # a newer value stays
    assert not await store.shared_delete_if("token", "T")  # no prefix matching
    assert await store.shared_get("token") == "T2"
    assert await store.shared_delete_if("token", "T2")
    assert await store.shared_get("token") is None
    assert not await store.shared_delete_if("token", "T2")


async def test_releasing_a_lease_frees_it_but_only_for_its_owner(store: Store) -> None:
    assert await store.shared_set_if_absent("lease", "owner-a", ttl_ms=60_000)
    assert not await store.shared_delete_if("lease", "owner-b")
    assert not await store.shared_set_if_absent("lease", "owner-b", ttl_ms=60_000)
    assert await store.shared_delete_if("lease", "owner-a")
    assert await store.shared_set_if_absent("lease", "owner-b", ttl_ms=60_000)


async def test_shared_keys_do_not_touch_the_stores_own_records(store: Store) -> None:
    assert await store.add_counts({"csat_responses": 2})
    await store.shared_set("stats", "not a hash", ttl_ms=60_000)
    await store.shared_set("timers", "not a sorted set", ttl_ms=60_000)
    assert (await store.stats())["csat_responses"] == 2
    assert await store.timer_count() == 0
    assert await store.shared_get("stats") == "not a hash"


async def test_shared_values_live_under_the_key_prefix(redis_prefix: str) -> None:
    a, b = RedisStore(REDIS_URL, prefix=redis_prefix), RedisStore(REDIS_URL, prefix=f"{redis_prefix}:other")
    raw = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await a.shared_set("wechat:token:wx1", "T1", ttl_ms=60_000)
        assert await b.shared_get("wechat:token:wx1") is None
        assert await raw.get(f"{redis_prefix}:shared:wechat:token:wx1") == "T1"
        assert 0 < await raw.pttl(f"{redis_prefix}:shared:wechat:token:wx1") <= 60_000
    finally:
        await a.close()
        await b.close()
        await raw.aclose()


async def test_shared_values_on_unreachable_redis_raise_storage_unavailable() -> None:
    dead = RedisStore("redis://127.0.0.1:1/0", socket_timeout=0.5)
    try:
        for call in (
            dead.shared_get("k"),
            dead.shared_set("k", "v", ttl_ms=1000),
            dead.shared_set_if_absent("k", "v", ttl_ms=1000),
            dead.shared_delete_if("k", "v"),
        ):
            with pytest.raises(StorageUnavailable):
                await call
    finally:
        await dead.close()
