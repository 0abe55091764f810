"""The outbound service: agent replies, notes, and their delivery.

A reply is stored as ``queued`` together with a ``send`` timer due now, then answered
202. The timer scanner (in whichever process leases it first) hands it to the channel
adapter; transient failures are retried with exponential backoff, the rest end as
``failed`` with the provider's reason. Provider delivery reports move the status
forward only. Nothing is sent twice at once: the timer's lease outlasts a send.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from gateway import metrics
from gateway.channels.base import ChannelAdapter, SendNotSupported
from gateway.core.outbox_payloads import payload
from gateway.model import (
    LOOP_GUARD_FLAG,
    Attachment,
    Channel,
    Conversation,
    DeliveryStatus,
    Identity,
    Message,
    OutboundRequest,
    Sender,
    SendResult,
    StatusUpdate,
    new_id,
)
from gateway.redaction import mask_card_numbers
from gateway.storage.base import DueTimer, Outcome, StorageUnavailable, Store
from gateway.storage.search_terms import text_terms

log = logging.getLogger(__name__)

NOT_QUALIFIED = "you do not have the skill levels the conversation's queue requires"

MAX_ATTEMPTS = 6
RECIPIENT = "recipient"  # conversation attribute: the identity key a conversation we began writes to
EXT_ID_TTL_MS = 30 * 86400 * 1000  # delivery reports keep coming for days
EARLY_STATUS_TTL_MS = 3600 * 1000
# Message meta ``{"channel": ..., "to": <identity key>}``: a message of the conversation
# sent on another channel, to that address (a verification code by SMS or email).
DELIVER = "deliver"

# Fills in a message's text just before it is handed to the adapter (a flag of the message
# names the expander); the filled-in text is never stored, published or logged. None:
# it cannot be sent (the reason in the second value).
Expander = Callable[[Message], Awaitable[tuple[Message | None, str]]]


class ReplyRefused(Exception):
    """The reply cannot be taken: ``status`` and ``code`` say why (403, 409, 501)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def backoff_seconds(attempt: int) -> float:
    """1, 2, 4, 8, 16 s … with jitter, so a provider's hiccup is not hammered in step."""
    return min(300.0, 2 ** max(0, attempt - 1)) * (0.75 + random.random() / 2)


class Outbound:
    def __init__(
        self,
        *,
        store: Store,
        adapter_for: Callable[[Channel, str], ChannelAdapter | None],
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.adapter_for = adapter_for
        self.wake = wake
        self.clock = clock
        self.expanders: dict[str, Expander] = {}

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def check_sendable(self, conv: Conversation, *, template: dict[str, Any] | None, now: datetime) -> ChannelAdapter:
        adapter = self.adapter_for(conv.channel, conv.endpoint)
        if adapter is None or not adapter.can_send:
            raise ReplyRefused(
                501, "channel_cannot_send", f"the {conv.channel.value} channel is not configured to send replies"
            )
        if template is not None and not adapter.takes_templates(conv.channel):
            raise ReplyRefused(422, "templates_unsupported", f"the {conv.channel.value} channel has no templates")
        if conv.window_expires_at is not None and now > conv.window_expires_at:
            expired_for = (now - conv.window_expires_at).total_seconds()
            if not adapter.window_allows(expired_for=expired_for, template=template):
                raise ReplyRefused(
                    409,
                    "window_closed",
                    f"the customer's {conv.channel.value} messaging window closed at "
                    f"{conv.window_expires_at.isoformat()}; send a template instead",
                )
        return adapter

    async def reply(
        self,
        conv: Conversation,
        *,
        agent: str | None,
        text: str,
        agent_name: str | None = None,
        template: dict[str, Any] | None = None,
        attachments: list[Attachment] | None = None,
        note: bool = False,
        sender_kind: str = "agent",
        flags: list[str] | None = None,
        capacity: int = 0,
        queues: list[str] | None = None,
        claim: bool | None = None,
        deliver: tuple[Channel, Identity] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Message:
        """``capacity`` and ``queues`` (the agent's) bound what a reply that claims may take.
        An agent's reply claims an unassigned conversation unless ``claim`` is False (a
        case notice sent in their name answers the customer without taking the chat).
        ``deliver``: send it on that channel to that address instead of the conversation's."""
        now_ms = self._now_ms()
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        meta = dict(meta or {})
        if deliver is not None:
            channel, to = deliver
            adapter = self.adapter_for(channel, "")
            if adapter is None or not adapter.can_send:
                raise ReplyRefused(501, "channel_cannot_send", f"the {channel.value} channel is not configured to send")
            meta[DELIVER] = {"channel": channel.value, "to": to.key}
        elif not note:
            self.check_sendable(conv, template=template, now=now)
        message = Message(
            id=new_id("msg"),
            conversation_id=conv.id,
            direction="note" if note else "outbound",
            channel=conv.channel,
            sender=Sender(kind=sender_kind, id=agent, name=agent_name or agent),  # type: ignore[arg-type]
            text=mask_card_numbers(text) or "",
            attachments=attachments or [],
            template=template,
            received_at=now,
            status=None if note else DeliveryStatus.QUEUED,
            flags=flags or [],
            meta=meta,
        )
        result = await self.store.append_message(
            conv.id,
            message_id=message.id,
            message_json=message.model_dump_json(),
            now_ms=now_ms,
            kind=message.direction.value,
            agent=agent if sender_kind == "agent" and agent else "",
            payload=payload("message.outbound", channel=conv.channel.value, message=message.model_dump(mode="json")),
            send=not note,
            claim=sender_kind == "agent" and not note and claim is not False,
            assigned_payload=payload("conversation.assigned"),
            capacity=capacity,
            queues=queues,
        )
        _raise_if_refused(result)
        await self._make_findable(conv.id, message.text)
        if result.first_response_ms is not None:
            metrics.FIRST_RESPONSE.observe(result.first_response_ms / 1000)
        if not note:
            self.wake()
        log.info(
            "reply queued" if not note else "note stored",
            extra={"conversation_id": conv.id, "message_id": message.id, "channel": conv.channel.value},
        )
        return message

    async def _make_findable(self, conversation_id: str, text: str) -> None:
        """Index the reply's words for search, after the write and apart from it: the reply
        is stored and will be sent, so a failure here must not make the caller retry it."""
        try:
            await self.store.index_terms(conversation_id, text_terms(text))
        except StorageUnavailable:
            log.warning("reply not indexed for search", extra={"conversation_id": conversation_id})

    async def _recipient(self, conv: Conversation) -> Identity | None:
        """The customer's address on this conversation: the sender of its last message
        (never a machine's: a bounce or an out-of-office note is not the customer); in a
        conversation we began (a case's merchant), the ``recipient`` it names."""
        for message in reversed(await self.store.get_messages(conv.id, limit=200)):
            if message.direction == "inbound" and message.sender.id and LOOP_GUARD_FLAG not in message.flags:
                return Identity.from_key(message.sender.id)
        named = conv.attributes.get(RECIPIENT)
        if isinstance(named, str) and ":" in named:
            return Identity.from_key(named)
        contact = await self.store.get_contact(conv.contact_id)
        return contact.identities[0] if contact and contact.identities else None

    async def on_send(self, timer: DueTimer, now_ms: int) -> int | None:
        """Timer ``send|conversation|message``: deliver, record, retry later if worth it."""
        conv = await self.store.get_conversation(timer.conversation_id)
        message = await self.store.get_message(timer.conversation_id, timer.argument)
        if conv is None or message is None or message.status is not DeliveryStatus.QUEUED:
            return None
        result = await self._deliver(conv, message)
        deliver = message.meta.get(DELIVER)
        via = deliver.get("channel") if isinstance(deliver, dict) else None
        attempt = message.attempts + 1
        if result.ok:
            outcome, again = "sent", None
        elif result.retryable and attempt < MAX_ATTEMPTS:
            outcome, again = "retry", now_ms + int(backoff_seconds(attempt) * 1000)
        else:
            outcome, again = "failed", None
        metrics.SENDS.labels(conv.channel.value, outcome).inc()
        await self.store.record_send(
            conv.id,
            message.id,
            outcome=outcome,
            external_id=result.external_id or "",
            error=(result.error or "")[:500],
            # The channel that carried it: a form conversation's reply goes by email or SMS.
            channel=str(result.meta.get("channel") or via or conv.channel.value),
            now_ms=self._now_ms(),
            status=result.status.value,
            ext_ttl_ms=EXT_ID_TTL_MS,
            payload=payload("message.status", channel=conv.channel.value),
        )
        log.info(
            "send " + outcome,
            extra={
                "conversation_id": conv.id,
                "message_id": message.id,
                "channel": conv.channel.value,
                "attempt": attempt,
                "error": result.error if not result.ok else None,
            },
        )
        return again

    async def _deliver(self, conv: Conversation, message: Message) -> SendResult:
        """Hand the message to its channel's adapter for the customer's address; a failure
        says whether trying again may help."""
        deliver = message.meta.get(DELIVER)
        if isinstance(deliver, dict):
            channel = Channel(deliver["channel"])
            adapter = self.adapter_for(channel, "")
            recipient: Identity | None = Identity.from_key(str(deliver["to"]))
        else:
            adapter = self.adapter_for(conv.channel, conv.endpoint)
            recipient = await self._recipient(conv)
        if adapter is None or recipient is None:
            return SendResult(ok=False, error="no channel or recipient to send to", retryable=False)
        for flag in message.flags:
            expander = self.expanders.get(flag)
            if expander is not None:
                expanded, why = await expander(message)
                if expanded is None:
                    return SendResult(ok=False, error=why, retryable=False)
                message = expanded
        if isinstance(deliver, dict):  # a new message of that channel: no thread, our own sender
            conv = conv.model_copy(
                update={
                    "channel": adapter_channel(deliver),
                    "endpoint": "",
                    "attributes": {},
                    "subject": message.subject,
                }
            )
        contact = await self.store.get_contact(conv.contact_id)
        request = OutboundRequest(
            message=message,
            conversation=conv,
            recipient=recipient,
            contact_name=contact.name if contact else "",
            thread_ids=await self.store.thread_ids(conv.id) if conv.channel is Channel.EMAIL else [],
        )
        try:
            return await adapter.send(request)
        except SendNotSupported as exc:
            return SendResult(ok=False, error=str(exc), retryable=False)
        except Exception as exc:
            log.exception("adapter send failed", extra={"conversation_id": conv.id, "message_id": message.id})
            return SendResult(ok=False, error=f"{type(exc).__name__}", retryable=True)

    async def apply_status(self, update: StatusUpdate) -> Outcome:
        at_ms = int(update.at.timestamp() * 1000) if update.at else self._now_ms()
        result = await self.store.apply_status(
            update.channel.value,
            update.external_id,
            status=update.status.value,
            error=(update.error or "")[:500],
            now_ms=at_ms,
            payload=payload("message.status", channel=update.channel.value),
            early_ttl_ms=EARLY_STATUS_TTL_MS,
        )
        effect = "applied" if result.ok else ("early" if result.reason == "unknown" else "ignored")
        metrics.DELIVERY_REPORTS.labels(update.channel.value, effect).inc()
        return result


def adapter_channel(deliver: dict[str, Any]) -> Channel:
    return Channel(deliver["channel"])


def _raise_if_refused(result: Outcome) -> None:
    """``ReplyRefused`` for a reply the store did not append, naming why."""
    if result.reason == "not_qualified":
        raise ReplyRefused(403, "not_qualified", NOT_QUALIFIED)
    if result.reason == "capacity":
        raise ReplyRefused(409, "capacity", "you are at your capacity of open conversations")
    if result.reason == "not_assignee":
        raise ReplyRefused(403, "not_assignee", f"the conversation is assigned to {result.assignee}")
    if not result.ok:
        raise ReplyRefused(404, "not_found", "no such conversation")
