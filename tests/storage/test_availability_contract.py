"""Storage that cannot be reached: every call says so as ``StorageUnavailable`` (the API
answers 503, SMTP 451), and health checks see it, over both stores."""

from __future__ import annotations

import pytest

from gateway.storage import MemoryStore
from gateway.storage.base import StorageUnavailable, Store
from tests.helpers import inbound, make_ingest


async def test_every_kind_of_call_fails_as_unavailable(unreachable_store: Store) -> None:
    store = unreachable_store
    assert await store.ping() is False
    calls = [
        lambda: make_ingest(store).accept(inbound()),  # scripts
        lambda: store.get_conversation("c1"),  # pipelined reads
        lambda: store.shared_get("token"),  # plain commands
        lambda: store.outbox_read("relay", count=10, block_ms=100, retry_own=False),  # the stream
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable):
            await call()


async def test_the_memory_store_comes_back_with_its_data() -> None:
    store = MemoryStore()
    await store.start()
    accepted = await make_ingest(store).accept(inbound())
    store.available = False
    with pytest.raises(StorageUnavailable):
        await store.get_conversation(accepted.conversation_id)
    store.available = True
    assert await store.ping() is True
    conv = await store.get_conversation(accepted.conversation_id)
    assert conv is not None and conv.message_count == 1
    await store.close()
