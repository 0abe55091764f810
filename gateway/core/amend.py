"""A customer's edit or deletion of a message they already sent.

The stored message is changed in place (``Store.amend_message``): an edit shows the new
text, marked edited, with the original kept beside it; a deletion marks it deleted.
Neither is new work for an agent, so nothing is offered, and other systems hear of it as
``message.edited`` / ``message.deleted`` on ``gateway.events``. An edit of a message the
gateway never stored (sent before it ran, or older than the dedupe records) is stored as
a message of its own, flagged edited, so its content is not lost; a deletion of such a
message has nothing to mark.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from gateway import metrics
from gateway.core.intake_hooks import VerificationGate
from gateway.core.masking import redact_amendment
from gateway.core.outbox_payloads import payload
from gateway.model import Amendment, AmendResult, InboundMessage, IngestResult
from gateway.redaction import cut_codes
from gateway.storage.base import Store
from gateway.storage.search_terms import text_terms

log = logging.getLogger(__name__)

MAX_EXTERNAL_ID = 512


class InvalidAmendment(ValueError):
    """An adapter produced an amendment that cannot be stored (a bug or a hostile payload)."""


class Amender:
    def __init__(
        self,
        *,
        store: Store,
        accept: Callable[[InboundMessage], Awaitable[IngestResult]],
        dedupe_ttl: float,
        clock: Callable[[], float] = time.time,
        verification: Callable[[], VerificationGate | None] = lambda: None,
    ) -> None:
        self.store = store
        self.verification = verification
        self.accept = accept
        self.dedupe_ttl = dedupe_ttl
        self.clock = clock

    async def _cut_codes(self, amendment: Amendment) -> str:
        """The edited text with the contact's pending or recent verification code cut out,
        as ingest cuts it from a new message: an edit is no answer, but its digits are kept,
        published and indexed like any text."""
        gate = self.verification()
        if gate is None or not amendment.text:
            return amendment.text
        contact = await self.store.lookup_contact([amendment.sender.key])
        if contact is None:
            return amendment.text
        return str(cut_codes(amendment.text, await gate.codes_to_cut(contact.id)))

    async def amend(self, amendment: Amendment) -> AmendResult:
        for value in (amendment.external_id, amendment.target_external_id):
            if not value or len(value) > MAX_EXTERNAL_ID:
                raise InvalidAmendment("external ids must be 1–512 characters")
        amendment = redact_amendment(amendment)
        text = await self._cut_codes(amendment) if amendment.action == "edited" else amendment.text
        now_ms = int(self.clock() * 1000)
        at_ms = int(amendment.provider_ts.timestamp() * 1000) if amendment.provider_ts else now_ms
        attachments = amendment.attachments
        outcome = await self.store.amend_message(
            amendment.channel.value,
            amendment.external_id,
            amendment.target_external_id,
            identity_key=amendment.sender.key,
            action=amendment.action,
            text=text if amendment.action == "edited" else "",
            attachments_json=_attachments_json(attachments),
            at_ms=min(at_ms, now_ms),
            now_ms=now_ms,
            dedupe_ttl_ms=int(self.dedupe_ttl * 1000),
            payload=payload(
                f"message.{amendment.action}",
                channel=amendment.channel.value,
                external_id=amendment.target_external_id,
                **({"text": text} if amendment.action == "edited" else {}),
            ),
        )
        if outcome.reason == "not_found" and amendment.action == "edited":
            stored = await self.accept(_as_message(amendment, text))
            result = AmendResult(
                outcome="duplicate" if stored.duplicate else "stored_new",
                conversation_id=stored.conversation_id,
                message_id=stored.message_id,
            )
        else:
            result = AmendResult(
                outcome="applied" if outcome.ok else outcome.reason,  # type: ignore[arg-type]
                conversation_id=outcome.conversation_id,
                message_id=outcome.message_id,
            )
            if outcome.ok and outcome.conversation_id and amendment.action == "edited":
                # The edited words find the conversation too (the first ones still do).
                await self.store.index_terms(outcome.conversation_id, text_terms(text))
        metrics.AMENDMENTS.labels(amendment.channel.value, amendment.action, result.outcome).inc()
        log.info(
            "inbound " + amendment.action,
            extra={
                "channel": amendment.channel.value,
                "outcome": result.outcome,
                "conversation_id": result.conversation_id,
                "message_id": result.message_id,
            },
        )
        return result


def _attachments_json(attachments: list | None) -> str:  # type: ignore[type-arg]
    if attachments is None:
        return ""
    return "[" + ",".join(a.model_dump_json() for a in attachments) + "]"


def _as_message(amendment: Amendment, text: str) -> InboundMessage:
    """The edit of an unknown message, as a message of its own: its content is news."""
    return InboundMessage(
        channel=amendment.channel,
        external_id=amendment.external_id,
        endpoint=amendment.endpoint,
        sender=amendment.sender,
        sender_name=amendment.sender_name,
        text=text,
        attachments=amendment.attachments or [],
        provider_ts=amendment.provider_ts,
        flags=["edited"],
        meta={**amendment.meta, "edited_message_id": amendment.target_external_id},
    )
