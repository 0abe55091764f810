"""Assignment and routing in the Redis store: claiming one conversation or the best
waiting one, offering again (transfer, escalation), resolving, waiting on the customer.
Each step is one Lua script, so a claim races nothing."""

from __future__ import annotations

import json

from gateway.storage.base import Outcome
from gateway.storage.connection import Connection
from gateway.storage.records import claim_outcome, version_outcome
from gateway.storage.scripts import only_from


class Claims(Connection):
    async def claim(
        self,
        conversation_id: str,
        agent: str,
        *,
        version: int | None,
        capacity: int,
        now_ms: int,
        payload: str,
        queues: list[str] | None = None,
    ) -> Outcome:
        reply = await self._run(
            "claim",
            conversation_id,
            agent,
            "" if version is None else str(version),
            str(capacity),
            str(now_ms),
            payload,
            *only_from(queues),
        )
        return claim_outcome(reply, conversation_id)

    async def claim_next(self, agent: str, queues: list[str], *, capacity: int, now_ms: int, payload: str) -> Outcome:
        reply = await self._run("claim_next", agent, str(capacity), str(now_ms), json.dumps(queues), payload)
        if reply[0] == "ok":
            waited = int(reply[3]) if len(reply) > 3 and reply[3] else None
            return Outcome(
                ok=True, conversation_id=reply[1], routing_version=int(reply[2]), assignee=agent, waited_ms=waited
            )
        return Outcome(ok=False, reason=reply[0])

    async def reroute(
        self,
        conversation_id: str,
        *,
        expected_version: int | None,
        only_unassigned: bool,
        queue: str,
        priority: int,
        reason: str,
        now_ms: int,
        decision_json: str | None,
        target_index: int,
        escalate_after_ms: int,
        payload: str,
        keep_wait: bool,
    ) -> Outcome:
        reply = await self._run(
            "reroute",
            conversation_id,
            "" if expected_version is None else str(expected_version),
            "1" if only_unassigned else "0",
            queue,
            str(priority),
            reason,
            str(now_ms),
            decision_json or "",
            str(target_index),
            str(escalate_after_ms),
            payload,
            "1" if keep_wait else "0",
        )
        return version_outcome(reply, conversation_id)

    async def resolve(self, conversation_id: str, *, by: str, now_ms: int, payload: str) -> Outcome:
        reply = await self._run("resolve", conversation_id, by, str(now_ms), payload)
        return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id)

    async def set_pending(self, conversation_id: str, *, now_ms: int) -> Outcome:
        reply = await self._run("pending", conversation_id, str(now_ms))
        return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id)
