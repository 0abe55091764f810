"""Identity verification as the store keeps it: one record per contact
(``<prefix>:vf:{<contact>}``, a flat hash kept ``keep_ms`` after its last change).

The record holds the pending code's salted hash — never the code — its attempts and
deadline, where it went (masked) and, once verified, until when. ``verify_request.lua``
writes a new code (refused within ``resend_after`` of the last), ``verify_settle.lua``
decides once what became of it; both publish their events with the change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(slots=True)
class VerificationRecord:
    state: str  # pending | verified | failed (as stored; "expired" is read off the times)
    method: str  # sms | email | jwt
    via: str
    to: str  # the masked destination, as shown to agents
    nonce: str
    salt: str
    hash: str
    attempts: int
    max_attempts: int
    sent_ms: int | None
    expires_ms: int | None  # the pending code's deadline
    verified_ms: int | None
    valid_until_ms: int | None
    failed_ms: int | None
    reason: str | None  # why it failed: max_attempts | expired
    conversation: str  # where it was asked for

    def state_at(self, now_ms: int) -> str:
        """none | pending | verified | failed | expired, as of ``now_ms``."""
        if self.state == "pending" and self.expires_ms is not None and now_ms >= self.expires_ms:
            return "expired"
        if self.state == "verified" and self.valid_until_ms is not None and now_ms >= self.valid_until_ms:
            return "expired"
        if self.state == "failed" and self.reason == "expired":
            return "expired"
        return self.state


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def verification_from_hash(h: dict[str, str]) -> VerificationRecord:
    return VerificationRecord(
        state=h.get("state", "none"),
        method=h.get("method", ""),
        via=h.get("via", ""),
        to=h.get("to", ""),
        nonce=h.get("nonce", ""),
        salt=h.get("salt", ""),
        hash=h.get("hash", ""),
        attempts=_int(h.get("attempts")) or 0,
        max_attempts=_int(h.get("max_attempts")) or 0,
        sent_ms=_int(h.get("sent_ms")),
        expires_ms=_int(h.get("expires_ms")),
        verified_ms=_int(h.get("verified_ms")),
        valid_until_ms=_int(h.get("valid_until_ms")),
        failed_ms=_int(h.get("failed_ms")),
        reason=h.get("reason") or None,
        conversation=h.get("conversation", ""),
    )


@dataclass(slots=True)
class VerificationPlan:
    """A new code for ``contact``: its salted hash, where it goes, its expiry timer."""

    contact: str
    conversation: str
    by: str  # the agent who asked (or "system")
    via: str
    to: str  # masked
    destination: str  # the identity key it is sent to
    nonce: str
    salt: str
    hash: str
    max_attempts: int
    now_ms: int
    expires_ms: int
    resend_after_ms: int
    keep_ms: int
    timer: str  # the expiry timer's member
    payload: str  # verification.requested

    def to_json(self) -> str:
        data = asdict(self)
        for name in ("max_attempts", "now_ms", "expires_ms", "resend_after_ms", "keep_ms"):
            data[name] = str(data[name])
        return json.dumps(data, ensure_ascii=False)


@dataclass(slots=True)
class SettlePlan:
    contact: str
    nonce: str
    outcome: str  # ok | wrong | expire | jwt
    conversation: str  # where the answer came (or the web chat session's)
    now_ms: int
    valid_for_ms: int
    keep_ms: int
    succeeded: str  # payload of verification.succeeded
    failed: str  # payload of verification.failed

    def to_json(self) -> str:
        data = asdict(self)
        for name in ("now_ms", "valid_for_ms", "keep_ms"):
            data[name] = str(data[name])
        return json.dumps(data, ensure_ascii=False)


class VerificationStore(Protocol):
    async def verification_request(self, plan: VerificationPlan) -> int:
        """Write a new code; 0 when written, else the ms until ``resend_after`` allows one."""
        ...

    async def verification_settle(self, plan: SettlePlan) -> tuple[str, int]:
        """(verified | wrong | locked | expired | stale, attempts left when wrong)."""
        ...

    async def get_verification(self, contact_id: str) -> VerificationRecord | None: ...

    async def get_verifications(self, contact_ids: list[str]) -> dict[str, VerificationRecord]:
        """The records of those contacts that have one."""
        ...
