"""Named counters in the stats hash, counted once per key when asked — both stores."""

from __future__ import annotations

import asyncio

from gateway.storage.base import Store
from tests.conftest import eventually
from tests.helpers import inbound, make_ingest


async def test_counters_add_up_next_to_the_core_ones(store: Store) -> None:
    await make_ingest(store).accept(inbound())  # the core counts an offer
    assert await store.add_counts({"csat_responses": 1, "csat_score_5": 1, "csat_score_sum": 5})
    assert await store.add_counts({"csat_responses": 1, "csat_score_sum": 3, "faq_answered": 0})
    stats = await store.stats()
    assert stats["offered"] == 1
    assert stats["csat_responses"] == 2 and stats["csat_score_sum"] == 8 and stats["csat_score_5"] == 1
    assert stats.get("faq_answered", 0) == 0


async def test_a_once_key_counts_one_time_even_when_racing(store: Store) -> None:
    results = await asyncio.gather(
        *(store.add_counts({"faq_deflected": 1}, once="faq-end:cv_1:abc", once_ttl_ms=60_000) for _ in range(20))
    )
    assert results.count(True) == 1
    assert await store.add_counts({"faq_deflected": 1}, once="faq-end:cv_2:abc", once_ttl_ms=60_000)
    assert (await store.stats())["faq_deflected"] == 2


async def test_a_once_key_is_forgotten_after_its_lifetime(store: Store) -> None:
    assert await store.add_counts({"csat_requested": 1}, once="short", once_ttl_ms=50)
    assert not await store.add_counts({"csat_requested": 1}, once="short", once_ttl_ms=50)
    await eventually(lambda: store.add_counts({"csat_requested": 1}, once="short", once_ttl_ms=50))  # expired
    assert (await store.stats())["csat_requested"] == 2
