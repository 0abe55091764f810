"""Queues with ``requires_verification: true``: an unverified customer's conversation waits
for verification before it is offered.

Ingest holds it (``verification_hold`` flag, the decision kept, no offer) and writes a
``verification_start`` timer with the message. The timer sends the contact a code — or,
when a code is already out, waits for it; when the contact turns out verified already,
or no code can be sent (no phone or email, limits), it offers at once. Whatever ends the
verification (verified, locked, expired) offers every held conversation of the contact,
once (``verify_release.lua``); agents see the outcome in the conversation's
``verification`` field.
"""

from __future__ import annotations

import logging

from gateway.core.intake_hooks import HOLD_FLAG
from gateway.core.outbox_payloads import offer_payload
from gateway.model import Conversation
from gateway.storage.base import DueTimer
from gateway.verification.service import VerificationRefused, Verifier

log = logging.getLogger(__name__)

SYSTEM = "system"


class Hold:
    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.store = verifier.store
        verifier.on_settled.append(self.on_settled)

    async def on_start(self, timer: DueTimer, now_ms: int) -> int | None:
        """``verification_start|<conversation>|<queue>``."""
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None or HOLD_FLAG not in conv.flags:
            return None
        record = await self.store.get_verification(conv.contact_id)
        state = record.state_at(now_ms) if record is not None else "none"
        if state == "verified":
            await self.release(conv, "verified already")
            return None
        if state == "pending":
            return None  # a code is out: its answer (or its expiry) releases the offer
        try:
            await self.verifier.request(conv, via=None, by=SYSTEM)
        except VerificationRefused as exc:
            log.info("verification not started (%s): offered as it is", exc.code, extra={"conversation_id": conv.id})
            await self.release(conv, exc.code)
        return None

    async def on_settled(self, contact_id: str, outcome: str) -> None:
        page = await self.store.list_conversations(contact_id=contact_id, limit=100)
        for conv in page.conversations:
            if HOLD_FLAG in conv.flags:
                await self.release(conv, outcome)

    async def release(self, conv: Conversation, why: str) -> None:
        decision = conv.routing
        if decision is None:
            return
        first = decision.targets[0] if decision.targets else None
        preview = conv.preview or ""  # the customer's latest message, masked, kept on the conversation
        result = await self.store.verification_release(
            conv.id,
            now_ms=self.verifier.now_ms(),
            payload=offer_payload(
                channel=conv.channel.value, skills=decision.skills, rule=decision.rule, preview=preview
            ),
            escalate_after_ms=int(first.timeout * 1000) if first and first.timeout else 0,
        )
        if result.ok:
            log.info("held conversation offered (%s)", why, extra={"conversation_id": conv.id, "queue": decision.queue})
