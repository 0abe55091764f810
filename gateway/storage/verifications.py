"""Identity verification records in the Redis store (``verify_request.lua``,
``verify_settle.lua``); see ``verification_records``."""

from __future__ import annotations

from gateway.storage.base import Outcome
from gateway.storage.connection import Connection
from gateway.storage.verification_records import (
    SettlePlan,
    VerificationPlan,
    VerificationRecord,
    verification_from_hash,
)


class Verifications(Connection):
    def vfk(self, contact_id: str) -> str:
        return f"{self.prefix}:vf:{{{contact_id}}}"

    async def verification_request(self, plan: VerificationPlan) -> int:
        reply = await self._run("verify_request", plan.to_json())
        return 0 if reply[0] == "ok" else max(1, int(reply[1]))

    async def verification_settle(self, plan: SettlePlan) -> tuple[str, int]:
        reply = await self._run("verify_settle", plan.to_json())
        return str(reply[0]), int(reply[1]) if len(reply) > 1 else 0

    async def verification_release(
        self, conversation_id: str, *, now_ms: int, payload: str, escalate_after_ms: int
    ) -> Outcome:
        reply = await self._run("verify_release", conversation_id, str(now_ms), payload, str(escalate_after_ms))
        if reply[0] == "ok":
            return Outcome(ok=True, conversation_id=conversation_id, routing_version=int(reply[1]))
        return Outcome(ok=False, reason=str(reply[0]), conversation_id=conversation_id)

    async def get_verification(self, contact_id: str) -> VerificationRecord | None:
        async with self._guard():
            h = await self._redis.hgetall(self.vfk(contact_id))
        return verification_from_hash(h) if h else None

    async def get_verifications(self, contact_ids: list[str]) -> dict[str, VerificationRecord]:
        unique = list(dict.fromkeys(contact_ids))
        if not unique:
            return {}
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for contact_id in unique:
                pipe.hgetall(self.vfk(contact_id))
            hashes = await pipe.execute()
        return {c: verification_from_hash(h) for c, h in zip(unique, hashes, strict=True) if h}
