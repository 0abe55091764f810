"""Checking a load run against storage and the broker, id by id."""

from __future__ import annotations

import json
from collections import defaultdict

import aio_pika

from bench.loadgen import LoadResult
from gateway.storage import RedisStore
from tests.conftest import eventually


async def check_stored_once(result: LoadResult, store: RedisStore) -> None:
    """Every acknowledged webhook is stored exactly once, in the conversation answered,
    and there is no conversation beyond one per acknowledged id."""
    acked = result.acked
    assert acked, "nothing was acknowledged"
    for external_id, outcome in acked.items():
        messages = await store.get_messages(outcome.conversation_id or "")
        assert [m.external_id for m in messages] == [external_id], external_id
    page = await store.list_conversations(limit=len(acked) + 50)
    assert len(page.conversations) == len({o.conversation_id for o in acked.values()})


async def collect_offers(
    amqp_url: str, queue_name: str, conversation_ids: set[str], *, timeout: float = 90.0
) -> dict[str, list[str]]:
    """Consume offers from the queue until every conversation has one; message ids per conversation."""
    seen: dict[str, list[str]] = defaultdict(list)
    connection = await aio_pika.connect_robust(amqp_url)
    try:

        async def declared() -> aio_pika.abc.AbstractQueue | None:
            channel = await connection.channel()  # a failed passive declare closes its channel
            try:
                return await channel.get_queue(queue_name)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                return None  # the gateway declares it once it is connected (again)

        queue = await eventually(declared, timeout=timeout)

        async def all_offered() -> bool:
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                seen[json.loads(message.body)["conversation_id"]].append(message.message_id or "")
            return conversation_ids <= set(seen)

        try:
            await eventually(all_offered, timeout=timeout, interval=0.2)
        except AssertionError:
            missing = conversation_ids - set(seen)
            raise AssertionError(
                f"{len(missing)} acknowledged conversations never offered, e.g. {sorted(missing)[:3]}"
            ) from None
    finally:
        await connection.close()
    return seen


async def check_offered_once_each(result: LoadResult, amqp_url: str, queue_name: str) -> dict[str, int]:
    conversation_ids = {o.conversation_id for o in result.acked.values() if o.conversation_id}
    offers = await collect_offers(amqp_url, queue_name, conversation_ids)
    copies = 0
    for cid in conversation_ids:
        ids = set(offers[cid])
        assert ids == {f"offer:{cid}:1"}, (cid, offers[cid])  # one conversation, one message id
        copies += len(offers[cid]) - 1
    return {"conversations": len(conversation_ids), "redelivered_copies": copies}
