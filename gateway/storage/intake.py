"""Intake in the Redis store: dedupe, the contact and conversation a message joins, the
atomic ingest (``ingest.lua``), and merging contacts (``merge.lua``)."""

from __future__ import annotations

import json

from gateway.model import Contact, IngestResult
from gateway.storage.base import Backlogged, IngestPlan, Outcome, Prepared
from gateway.storage.connection import Connection
from gateway.storage.records import contact_from_record, duplicate_result, plan_json, prepared_result


class Intake(Connection):
    async def peek_duplicate(self, channel: str, external_id: str) -> IngestResult | None:
        async with self._guard():
            seen = await self._redis.get(self.k("dd", channel, external_id))
        if seen:
            await self._confirm_replicated()
        return duplicate_result(seen) if seen else None

    async def prepare(
        self,
        channel: str,
        external_id: str,
        identity_keys: list[str],
        *,
        endpoint: str,
        by_contact: bool,
        thread_refs: list[str],
    ) -> Prepared:
        reply = await self._run(
            "prepare",
            channel,
            external_id,
            endpoint,
            "1" if by_contact else "0",
            json.dumps(thread_refs),
            *identity_keys,
        )
        prepared = prepared_result(reply)
        if prepared.duplicate is not None:
            await self._confirm_replicated()  # the first copy's write may not be replicated yet
        return prepared

    async def lookup_contact(self, identity_keys: list[str]) -> Contact | None:
        if not identity_keys:
            return None
        async with self._guard():
            found = await self._redis.mget([self.k("id", key) for key in identity_keys])
        for contact_id in found:
            if contact_id:
                return await self.get_contact(contact_id)
        return None

    async def get_contact(self, contact_id: str) -> Contact | None:
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(self.ct(contact_id))
            pipe.hgetall(self.ct(contact_id, "attrs"))
            pipe.smembers(self.ct(contact_id, "ids"))
            h, attrs, ids = await pipe.execute()
        return contact_from_record(h, attrs, ids) if h else None

    async def ingest(self, plan: IngestPlan) -> IngestResult | Prepared:
        reply = await self._run("ingest", plan_json(plan))
        if reply[0] == "duplicate":
            return duplicate_result(reply[1])
        if reply[0] == "backlogged":
            raise Backlogged(int(reply[1]))
        if reply[0] == "prepare":
            return prepared_result(reply[1])
        conversation_id, message_id, contact_id = reply[1].split("|")
        return IngestResult(
            conversation_id=conversation_id,
            message_id=message_id,
            contact_id=contact_id,
            duplicate=False,
            conversation_state=reply[0],
        )

    async def merge_contacts(self, keep: str, other: str, *, by: str, now_ms: int, payload: str) -> Outcome:
        reply = await self._run("merge", keep, other, by, str(now_ms), payload)
        return Outcome(ok=reply[0] == "ok", reason=reply[0])
