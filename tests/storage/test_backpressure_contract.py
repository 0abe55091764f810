"""Back-pressure in the storage contract (both stores): above ``outbox_limit`` entries a
new message is refused, a redelivery is still answered, and intake resumes once the relay
has caught up."""

from __future__ import annotations

import pytest

from gateway.model import Backlogged, ServiceUnavailable
from gateway.storage.base import Store
from tests.helpers import inbound, make_config, make_ingest


async def test_a_new_message_is_refused_while_the_outbox_is_at_its_limit(store: Store) -> None:
    # Each new conversation writes three entries (offer, conversation.opened, message.inbound).
    ingest = make_ingest(store, make_config(broker={"outbox_limit": 6}))
    first = await ingest.accept(inbound(external_id="bp-1", sender=("api", "a")))
    await ingest.accept(inbound(external_id="bp-2", sender=("api", "b")))
    assert (await store.outbox_stats()).depth == 6

    with pytest.raises(Backlogged) as refused:
        await ingest.accept(inbound(external_id="bp-3", sender=("api", "c")))
    assert isinstance(refused.value, ServiceUnavailable)  # answered like storage trouble: retryable
    assert refused.value.depth == 6 and refused.value.retry_after >= 1
    assert (await store.outbox_stats()).depth == 6  # nothing of it was written
    assert await store.lookup_contact(["api:c"]) is None

    again = await ingest.accept(inbound(external_id="bp-1", sender=("api", "a")))
    assert again.duplicate and again.message_id == first.message_id  # a redelivery is answered

    entries = await store.outbox_read("relay-1", count=100, block_ms=0, retry_own=False)
    await store.outbox_ack([e.entry_id for e in entries[:1]])  # the relay confirms one
    third = await ingest.accept(inbound(external_id="bp-3", sender=("api", "c")))
    assert not third.duplicate and third.conversation_state == "new"


async def test_no_limit_by_default(store: Store) -> None:
    ingest = make_ingest(store)
    for i in range(5):
        await ingest.accept(inbound(external_id=f"nolimit-{i}", sender=("api", f"n{i}")))
    assert (await store.outbox_stats()).depth == 15
