"""A customer's change to a message already stored — an edit or a deletion — in the
Redis store (``amend.lua``): found by (channel, provider id), applied once, the original
kept beside the change (see ``records.message_from_record``)."""

from __future__ import annotations

from gateway.storage.base import Outcome
from gateway.storage.connection import Connection


class Amendments(Connection):
    async def amend_message(
        self,
        channel: str,
        change_id: str,
        target_id: str,
        *,
        identity_key: str,
        action: str,
        text: str,
        attachments_json: str,
        at_ms: int,
        now_ms: int,
        dedupe_ttl_ms: int,
        payload: str,
    ) -> Outcome:
        reply = await self._run(
            "amend",
            channel,
            change_id,
            target_id,
            identity_key,
            action,
            text,
            attachments_json,
            str(at_ms),
            str(now_ms),
            str(dedupe_ttl_ms),
            payload,
        )
        return Outcome(
            ok=reply[0] == "ok",
            reason=reply[0],
            conversation_id=reply[1] if len(reply) > 1 else None,
            message_id=reply[2] if len(reply) > 2 else None,
        )
