"""Outbound messages in the Redis store: an agent's or the bot's message (``outbound.lua``),
what the provider said to its send (``send_result.lua``), and later delivery reports
(``status.lua``), forward-only."""

from __future__ import annotations

from gateway.storage.base import Outcome
from gateway.storage.connection import Connection
from gateway.storage.records import status_outcome
from gateway.storage.scripts import only_from


class Delivery(Connection):
    async def append_message(
        self,
        conversation_id: str,
        *,
        message_id: str,
        message_json: str,
        now_ms: int,
        kind: str,
        agent: str,
        payload: str,
        send: bool,
        claim: bool,
        assigned_payload: str,
        capacity: int = 0,
        queues: list[str] | None = None,
    ) -> Outcome:
        reply = await self._run(
            "outbound",
            conversation_id,
            message_id,
            message_json,
            str(now_ms),
            kind,
            agent,
            payload,
            "1" if send else "0",
            "1" if claim else "0",
            assigned_payload,
            str(capacity),
            *only_from(queues),
        )
        return _appended(reply, conversation_id, message_id)

    async def record_send(
        self,
        conversation_id: str,
        message_id: str,
        *,
        outcome: str,
        external_id: str,
        error: str,
        channel: str,
        now_ms: int,
        status: str,
        ext_ttl_ms: int,
        payload: str,
    ) -> Outcome:
        reply = await self._run(
            "send_result",
            conversation_id,
            message_id,
            outcome,
            external_id,
            error,
            channel,
            str(now_ms),
            status,
            str(ext_ttl_ms),
            payload,
        )
        return Outcome(
            ok=reply[0] == "ok",
            reason=reply[0],
            conversation_id=conversation_id,
            message_id=message_id,
            status=reply[1] if len(reply) > 1 else None,
        )

    async def apply_status(
        self, channel: str, external_id: str, *, status: str, error: str, now_ms: int, payload: str, early_ttl_ms: int
    ) -> Outcome:
        reply = await self._run("status", channel, external_id, status, error, str(now_ms), payload, str(early_ttl_ms))
        return status_outcome(reply)


def _appended(reply: list[str], conversation_id: str, message_id: str) -> Outcome:
    """``outbound.lua``'s answer: stored (with the first-response time when it was one), or
    why not: not_found, not_qualified, capacity, not_assignee (naming the assignee)."""
    if reply[0] in ("not_qualified", "capacity"):
        return Outcome(ok=False, reason=reply[0], conversation_id=conversation_id)
    if reply[0] == "not_assignee":
        return Outcome(ok=False, reason="not_assignee", conversation_id=conversation_id, assignee=reply[1])
    first = int(reply[1]) if len(reply) > 1 and reply[1] else None
    return Outcome(
        ok=reply[0] == "ok",
        reason=reply[0],
        conversation_id=conversation_id,
        message_id=message_id,
        first_response_ms=first,
    )
