"""Timers in the Redis store (``<prefix>:timers``, one sorted set scored by due time) and
the deadline steps they fire: reply-tracking warning and breach (``sla.lua``), and a
closing customer-service window (``window.lua``)."""

from __future__ import annotations

from gateway.storage.base import DueTimer, Outcome
from gateway.storage.connection import Connection


class Deadlines(Connection):
    async def timers_due(self, now_ms: int, *, limit: int, lease_ms: int) -> list[DueTimer]:
        reply = await self._run("timers_due", str(now_ms), str(limit), str(lease_ms))
        return [DueTimer(member=reply[i], due_ms=int(float(reply[i + 1]))) for i in range(0, len(reply), 2)]

    async def timer_set(self, member: str, due_ms: int) -> None:
        async with self._guard():
            await self._redis.zadd(self.k("timers"), {member: due_ms})

    async def timer_done(self, member: str) -> None:
        async with self._guard():
            await self._redis.zrem(self.k("timers"), member)

    async def timer_count(self) -> int:
        async with self._guard():
            return int(await self._redis.zcard(self.k("timers")))

    async def sla_fire(
        self,
        kind: str,
        conversation_id: str,
        seq: str,
        *,
        now_ms: int,
        payload: str,
        queue: str,
        priority: int,
        offer_payload: str,
    ) -> Outcome:
        reply = await self._run(
            "sla", kind, conversation_id, seq, str(now_ms), payload, queue, str(priority), offer_payload
        )
        return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id)

    async def window_closing(
        self, conversation_id: str, expires_ms: str, *, now_ms: int, payload: str, priority: int
    ) -> Outcome:
        reply = await self._run("window", conversation_id, expires_ms, str(now_ms), payload, str(priority))
        return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id)
