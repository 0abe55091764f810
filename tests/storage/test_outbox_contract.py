"""The outbox half of the storage contract: hand out, retry, reclaim, acknowledge."""

from __future__ import annotations

import asyncio

from gateway.storage.base import Store
from tests.conftest import eventually
from tests.helpers import inbound, make_ingest


async def test_entries_are_handed_out_once_and_removed_only_when_acknowledged(store: Store) -> None:
    await make_ingest(store).accept(inbound())
    first = await store.outbox_read("relay-a", count=100, block_ms=0, retry_own=False)
    assert len(first) == 3
    assert await store.outbox_read("relay-b", count=100, block_ms=0, retry_own=False) == []
    # Not acknowledged: still counted, and the same consumer gets them again on retry.
    assert (await store.outbox_stats()).depth == 3
    again = await store.outbox_read("relay-a", count=100, block_ms=0, retry_own=True)
    assert [e.message_id for e in again] == [e.message_id for e in first]
    await store.outbox_ack([e.entry_id for e in first[:2]])
    stats = await store.outbox_stats()
    assert stats.depth == 1 and stats.oldest_ms is not None
    await store.outbox_ack([first[2].entry_id])
    assert (await store.outbox_stats()).depth == 0


async def test_entries_of_a_dead_relay_are_reclaimed_after_idle(store: Store) -> None:
    await make_ingest(store).accept(inbound())
    taken = await store.outbox_read("dead-relay", count=100, block_ms=0, retry_own=False)
    assert await store.outbox_reclaim("live-relay", min_idle_ms=60_000, count=100) == []
    reclaimed: set[str] = set()

    async def all_reclaimed() -> bool:  # once they have been idle for 20 ms
        reclaimed.update(e.message_id for e in await store.outbox_reclaim("live-relay", min_idle_ms=20, count=100))
        return reclaimed == {e.message_id for e in taken}

    await eventually(all_reclaimed)


async def test_blocking_read_wakes_up_on_a_new_entry(store: Store) -> None:
    reader = asyncio.create_task(store.outbox_read("relay", count=10, block_ms=5000, retry_own=False))
    await asyncio.sleep(0.1)
    assert not reader.done()
    await make_ingest(store).accept(inbound())
    entries = await asyncio.wait_for(reader, 30)
    assert entries
