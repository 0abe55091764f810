"""Reading the Redis store: conversations, their messages, listings, and what the console
and metrics show (who holds what, queue depths, counters). Plain reads, no scripts."""

from __future__ import annotations

from gateway.model import Conversation, Message
from gateway.storage.base import Page, QueueStats
from gateway.storage.connection import Connection
from gateway.storage.records import conversation_from_record, message_from_record


class Reads(Connection):
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = await self._load_conversations([conversation_id])
        return found[0] if found else None

    async def _load_conversations(self, ids: list[str]) -> list[Conversation]:
        if not ids:
            return []
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for cid in ids:
                pipe.hgetall(self.cv(cid))
                pipe.hgetall(self.cv(cid, "attrs"))
                pipe.smembers(self.cv(cid, "flags"))
            raw = await pipe.execute()
        out = []
        for i in range(0, len(raw), 3):
            if raw[i]:
                out.append(conversation_from_record(raw[i], raw[i + 1], raw[i + 2]))
        return out

    async def get_messages(self, conversation_id: str, *, limit: int = 500) -> list[Message]:
        async with self._guard():
            ids = await self._redis.lrange(self.cv(conversation_id, "msgs"), -limit, -1)
            pipe = self._redis.pipeline(transaction=False)
            for mid in ids:
                pipe.hgetall(self.cv(conversation_id, "m", mid))
            raw = await pipe.execute()
        return [message_from_record(h) for h in raw if h]

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None:
        async with self._guard():
            h = await self._redis.hgetall(self.cv(conversation_id, "m", message_id))
        return message_from_record(h) if h else None

    async def thread_ids(self, conversation_id: str) -> list[str]:
        async with self._guard():
            return sorted(await self._redis.smembers(self.cv(conversation_id, "threads")))

    async def list_conversations(
        self,
        *,
        status: str | None = None,
        queue: str | None = None,
        contact_id: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> Page:
        index = self.listing_index(status=status, queue=queue, contact_id=contact_id)
        picked: list[Conversation] = []
        upper = f"({before}" if before else "+inf"
        while len(picked) < limit:
            async with self._guard():
                batch = await self._redis.zrevrangebyscore(index, upper, "-inf", start=0, num=limit, withscores=True)
            if not batch:
                return Page(conversations=picked)
            for conv in await self._load_conversations([cid for cid, _ in batch]):
                if _matches(conv, status=status, queue=queue, contact_id=contact_id):
                    picked.append(conv)
            upper = f"({int(batch[-1][1])}"
            if len(batch) < limit:
                return Page(conversations=picked[:limit])
        return Page(conversations=picked[:limit], next_before=int(picked[limit - 1].created_at.timestamp() * 1000))

    async def awaiting_between(self, low_ms: int, high_ms: int, *, limit: int) -> list[Conversation]:
        async with self._guard():
            ids = await self._redis.zrangebyscore(self.k("idx", "awaiting"), low_ms, high_ms, start=0, num=limit)
        return await self._load_conversations(ids)

    async def active_conversations(self, agent: str) -> set[str]:
        async with self._guard():
            return set(await self._redis.smembers(self.k("ag", agent, "active")))

    async def queue_stats(self, queues: list[str]) -> dict[str, QueueStats]:
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for q in queues:
                pipe.zcard(self.k("wait", q))
                pipe.zrange(self.k("waitage", q), 0, 0, withscores=True)
            raw = await pipe.execute()
        out = {}
        for i, q in enumerate(queues):
            depth, oldest = raw[2 * i], raw[2 * i + 1]
            out[q] = QueueStats(waiting=depth, oldest_wait_ms=int(oldest[0][1]) if oldest else None)
        return out

    async def queue_position(self, queue: str, conversation_id: str) -> tuple[int | None, int]:
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            pipe.zrank(self.k("wait", queue), conversation_id)
            pipe.zcard(self.k("wait", queue))
            rank, depth = await pipe.execute()
        return (int(rank) if rank is not None else None), int(depth)

    async def stats(self) -> dict[str, int]:
        async with self._guard():
            return {k: int(v) for k, v in (await self._redis.hgetall(self.k("stats"))).items()}


def _matches(conv: Conversation, *, status: str | None, queue: str | None, contact_id: str | None) -> bool:
    return (
        (status is None or conv.status == status)
        and (queue is None or conv.queue == queue)
        and (contact_id is None or conv.contact_id == contact_id)
    )
