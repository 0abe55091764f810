"""Checking a load run against storage and the broker, id by id."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import aio_pika

from bench.loadgen import LoadResult
from gateway.storage import RedisStore


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


async def collect_offers(amqp_url: str, conversation_ids: set[str], *, timeout: float = 60.0) -> dict[str, list[str]]:
    """Consume offers from `general` until every conversation has one; message ids per conversation."""
    seen: dict[str, list[str]] = defaultdict(list)
    connection = await aio_pika.connect_robust(amqp_url)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while True:  # the gateway declares the queue once it is connected again
            channel = await connection.channel()
            try:
                queue = await channel.get_queue("general")
                break
            except aio_pika.exceptions.ChannelNotFoundEntity:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
        while not conversation_ids <= set(seen):
            if asyncio.get_running_loop().time() > deadline:
                missing = conversation_ids - set(seen)
                raise AssertionError(
                    f"{len(missing)} acknowledged conversations never offered, e.g. {sorted(missing)[:3]}"
                )
            message = await queue.get(no_ack=True, fail=False, timeout=5)
            if message is None:
                await asyncio.sleep(0.2)
                continue
            seen[json.loads(message.body)["conversation_id"]].append(message.message_id or "")
    finally:
        await connection.close()
    return seen


async def check_offered_once_each(result: LoadResult, amqp_url: str) -> dict[str, int]:
    conversation_ids = {o.conversation_id for o in result.acked.values() if o.conversation_id}
    offers = await collect_offers(amqp_url, conversation_ids)
    copies = 0
    for cid in conversation_ids:
        ids = set(offers[cid])
        assert ids == {f"offer:{cid}:1"}, (cid, offers[cid])  # one conversation, one message id
        copies += len(offers[cid]) - 1
    return {"conversations": len(conversation_ids), "redelivered_copies": copies}
