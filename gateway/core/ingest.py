"""Ingest: the one door every customer message passes through.

An adapter hands over an ``InboundMessage``; ingest masks card numbers, resolves the
contact, decides the route, and writes message, conversation changes, reply deadline,
offer and events in one atomic store step. It returns only once that step is durable,
so adapters acknowledge the provider only then (docs/architecture.md, "How it stays reliable").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from gateway import metrics
from gateway.config import GatewayConfig
from gateway.core.amend import Amender
from gateway.core.inbound_records import event_templates, preview, search_terms, stored_message
from gateway.core.intake_hooks import (
    AUTO_OPEN_CASE,
    Interceptor,
    Verdict,
    VerificationGate,
    apply_verdict,
    hold_for_verification,
)
from gateway.core.masking import redact
from gateway.model import (
    Amendment,
    AmendResult,
    Channel,
    InboundMessage,
    IngestResult,
    RoutingContext,
    RoutingDecision,
    StatusUpdate,
    new_id,
)
from gateway.redaction import cut_codes
from gateway.routing.router import Router
from gateway.storage.base import Backlogged, IngestPlan, Prepared, Store, encode_attrs

log = logging.getLogger(__name__)

MAX_EXTERNAL_ID = 512

# Customer-service windows: free-form replies only this long after the customer's last
# message (docs/channels.md). WeChat's is documented as 48 h.
MESSAGING_WINDOWS: dict[Channel, float] = {
    Channel.WHATSAPP: 24 * 3600.0,
    Channel.MESSENGER: 24 * 3600.0,
    Channel.INSTAGRAM: 24 * 3600.0,
    Channel.WECHAT: 48 * 3600.0,
}


class InvalidInbound(ValueError):
    """An adapter produced a message ingest cannot take (a bug or a hostile payload)."""


class Ingest:
    """The ``InboundSink`` handed to every channel adapter."""

    def __init__(
        self,
        *,
        store: Store,
        router: Callable[[], Router],
        config: GatewayConfig,
        clock: Callable[[], float] = time.time,
        reply_deadline: Callable[[Channel, int], tuple[int, int]] | None = None,
        window_warning: float = 3600.0,
        status_handler: Callable[[StatusUpdate], Awaitable[Any]] | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.config = config
        self.clock = clock
        self.window_warning = window_warning
        self._reply_deadline = reply_deadline or self._plain_deadline
        self.status_handler = status_handler
        self.interceptors: list[Interceptor] = []  # asked in order; the first verdict counts
        self.amender = Amender(
            store=store,
            accept=self.accept,
            dedupe_ttl=config.storage.dedupe_ttl,
            clock=clock,
            verification=lambda: self.verification,
        )
        self.opens_cases = False  # on when cases are configured: rules may then open them
        self.verification: VerificationGate | None = None  # on when verification is configured

    def _plain_deadline(self, channel: Channel, now_ms: int) -> tuple[int, int]:
        """(reply_by, warn_at) in ms for a customer message received at ``now_ms``."""
        rt = self.config.reply_tracking
        target_ms = int(rt.target_for(channel) * 1000)
        return now_ms + target_ms, now_ms + int(target_ms * rt.warn_at)

    async def accept(self, message: InboundMessage) -> IngestResult:
        if not message.external_id or len(message.external_id) > MAX_EXTERNAL_ID:
            raise InvalidInbound("external_id must be 1–512 characters")
        message = redact(message)
        identities = list(dict.fromkeys([*message.signed_identities, message.sender, *message.extra_identities]))
        identity_keys = [i.key for i in identities]
        optimistic = self._one_trip(message)
        if optimistic:
            # Guess a new contact without a conversation (what most new messages are), write
            # in one round trip; the store checks the guess and answers what is stored when
            # it was wrong, and the message is decided again with that.
            prepared = Prepared()
        else:
            prepared = await self.store.prepare(
                message.channel.value,
                message.external_id,
                identity_keys,
                endpoint=message.endpoint,
                by_contact=message.channel is not Channel.EMAIL,
                thread_refs=message.thread_refs,
            )
            if prepared.duplicate is not None:
                metrics.INBOUND.labels(message.channel.value, "duplicate").inc()
                log.info(
                    "inbound duplicate",
                    extra={"channel": message.channel.value, "conversation_id": prepared.duplicate.conversation_id},
                )
                return prepared.duplicate
        written = await self._write(message, identity_keys, prepared, optimistic=optimistic)
        if isinstance(written, Prepared):
            written = await self._write(message, identity_keys, written, optimistic=False)
        assert isinstance(written, IngestResult)
        result = written
        metrics.INBOUND.labels(message.channel.value, "duplicate" if result.duplicate else "accepted").inc()
        log.info(
            "inbound accepted" if not result.duplicate else "inbound duplicate",
            extra={
                "channel": message.channel.value,
                "conversation_id": result.conversation_id,
                "message_id": result.message_id,
                "state": result.conversation_state,
            },
        )
        return result

    def _one_trip(self, message: InboundMessage) -> bool:
        """Whether the message may be written on the guess that its contact is new: no
        thread to follow, and no interceptor that could act on a new contact's message
        (each that only acts on stored state says so with ``needs_existing``)."""
        if message.thread_refs or message.thread_conversation_id:
            return False
        return all(getattr(i, "needs_existing", False) for i in self.interceptors)

    async def _write(
        self, message: InboundMessage, identity_keys: list[str], prepared: Prepared, *, optimistic: bool
    ) -> IngestResult | Prepared:
        """Decide and write the message; ``Prepared`` when the optimistic guess was wrong."""
        message, verdict = await self._verdict(message, prepared)
        if verdict is not None:
            message = message.model_copy(
                update={
                    "route": message.route if verdict.route is None else verdict.route and message.route,
                    "conversation_attributes": {**message.conversation_attributes, **verdict.conversation_attributes},
                    **({"text": verdict.text, "html": None} if verdict.text is not None else {}),
                }
            )
        now_ms = int(self.clock() * 1000)
        verified = bool(message.signed_identities)
        if self.verification is not None and prepared.contact_id and not verified:
            verified = await self.verification.verified(prepared.contact_id)
        routing_text = verdict.routing_text if verdict is not None else None
        decision = self._decide(message, prepared, now_ms, verified, routing_text)
        plan = self._plan(message, identity_keys, decision, now_ms)
        plan.optimistic = optimistic
        if verdict is not None:
            apply_verdict(plan, verdict)
        if decision.requires_verification and not verified and self.verification is not None:
            hold_for_verification(plan, prepared)
        try:
            result = await self.store.ingest(plan)
        except Backlogged:
            metrics.INBOUND.labels(message.channel.value, "backlogged").inc()
            raise
        if isinstance(result, Prepared):
            return result
        if message.signed_identities and self.verification is not None and not result.duplicate:
            await self.verification.signed_in(result.contact_id, result.conversation_id)
        return result

    async def _verdict(self, message: InboundMessage, prepared: Prepared) -> tuple[InboundMessage, Verdict | None]:
        """The first interceptor's verdict on the message (a rating, an FAQ question …),
        and the message with the codes verdicts asked to cut out of it."""
        for interceptor in self.interceptors:
            verdict = await interceptor.inspect(message, prepared)
            if verdict is None:
                continue
            if verdict.redact:
                message = message.model_copy(
                    update={
                        name: cut_codes(getattr(message, name), verdict.redact)
                        for name in ("text", "html", "subject", "meta")
                    }
                )
            if not verdict.passes:
                return message, verdict
        return message, None

    def _decide(
        self,
        message: InboundMessage,
        prepared: Prepared,
        now_ms: int,
        verified: bool = False,
        routing_text: str | None = None,
    ) -> RoutingDecision:
        """The routing decision, with the contact's stored attributes under the message's."""
        attributes = {**(prepared.contact_attributes or {}), **message.contact_attributes}
        return self.router().decide(
            RoutingContext(
                channel=message.channel,
                text=message.text if routing_text is None else routing_text,
                subject=message.subject,
                language_hint=message.language_hint,
                contact_attributes=attributes,
                attributes=message.conversation_attributes,
                new_contact=prepared.contact_id is None,
                verified=verified,
                at=datetime.fromtimestamp(now_ms / 1000, UTC),
            )
        )

    def _plan(
        self, message: InboundMessage, identity_keys: list[str], decision: RoutingDecision, now_ms: int
    ) -> IngestPlan:
        """Everything the store writes for the message, in one atomic step."""
        received_ms = now_ms
        stored = stored_message(message, received_ms)
        message_json = stored.model_dump_json()
        reply_by_ms, warn_ms = self._reply_deadline(message.channel, received_ms)
        window_expires_ms, window_warn_ms = self._messaging_window(message, received_ms)
        first = decision.targets[0] if decision.targets else None
        escalate_after_ms = int(first.timeout * 1000) if first and first.timeout else 0
        with_message = self.config.broker.inbound_in_opened
        events = event_templates(message, message_json, decision, opened_with_message=with_message)
        return IngestPlan(
            channel=message.channel.value,
            external_id=message.external_id,
            identities=identity_keys,
            contact_name=message.sender_name or "",
            contact_attributes=encode_attrs(message.contact_attributes),
            conversation_attributes=encode_attrs(message.conversation_attributes),
            endpoint=message.endpoint,
            by_contact=message.channel is not Channel.EMAIL,
            thread_refs=message.thread_refs,
            thread_conversation_id=message.thread_conversation_id or "",
            own_thread_ids=message.own_thread_ids,
            subject=message.subject or "",
            new_contact_id=new_id("ct"),
            new_conversation_id=new_id("cv"),
            message_id=stored.id,
            message_json=message_json,
            now_ms=now_ms,
            received_ms=received_ms,
            reopen_window_ms=int(self.config.routing.reopen_window * 1000),
            dedupe_ttl_ms=int(self.config.storage.dedupe_ttl * 1000),
            route=message.route,
            opens=message.route,
            decision_json=decision.model_dump_json(),
            queue=decision.queue,
            priority=decision.priority,
            escalate_after_ms=escalate_after_ms,
            reply_by_ms=reply_by_ms if message.route else 0,
            warn_ms=warn_ms,
            window_expires_ms=window_expires_ms,
            window_warn_ms=window_warn_ms,
            events=events,
            search_terms=search_terms(stored, identity_keys),
            preview=preview(stored),
            outbox_limit=self.config.broker.outbox_limit,
            inbound_in_opened=with_message,
            timers=[[AUTO_OPEN_CASE, decision.open_case, "0"]]
            if decision.open_case and message.route and self.opens_cases
            else [],
        )

    def _messaging_window(self, message: InboundMessage, received_ms: int) -> tuple[int, int]:
        """(expires, warn) in epoch ms of the channel's customer-service window, (0, 0) for
        a channel without one."""
        window = MESSAGING_WINDOWS.get(message.channel)
        if not window:
            return 0, 0
        basis = message.provider_ts.timestamp() if message.provider_ts else received_ms / 1000
        # A provider clock ahead of ours must not stretch the window.
        basis = min(basis, received_ms / 1000)
        window_expires_ms = int((basis + window) * 1000)
        return window_expires_ms, window_expires_ms - int(self.window_warning * 1000)

    async def amend(self, amendment: Amendment) -> AmendResult:
        """A customer's edit or deletion of a message they sent (see ``gateway.core.amend``)."""
        return await self.amender.amend(amendment)

    async def accept_status(self, update: StatusUpdate) -> bool:
        """A provider's delivery report; True when it moved one of our messages forward."""
        if self.status_handler is None:
            return False
        outcome = await self.status_handler(update)
        return bool(outcome.ok)
