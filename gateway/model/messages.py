"""Messages: stored ones and their delivery status, what an adapter hands over (``InboundMessage``),
amendments and status updates from providers, intake's result, and outbound requests and results."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator

from gateway.model.basics import Model, whole_number
from gateway.model.contacts import Channel, Identity
from gateway.model.conversations import Conversation


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


# Forward-only order of delivery states. ``failed``/``undelivered`` are final, and a
# late ``failed`` cannot undo a ``delivered`` or ``read`` the provider already reported.
STATUS_RANK: dict[DeliveryStatus, int] = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.UNDELIVERED: 3,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.READ: 5,
}
FINAL_STATUSES = frozenset({DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED})


# Message flags every layer reads. Adapters flag automatic mail (bounces, auto-replies)
# with LOOP_GUARD_FLAG: it is stored and never replied to. AUTO_FLAG marks a message the
# gateway sent by itself (FAQ answers, rating requests): Auto-Submitted by email, and
# rate-limited per address there.
LOOP_GUARD_FLAG = "loop-guard"
AUTO_FLAG = "auto"


def status_moves_forward(current: DeliveryStatus | None, new: DeliveryStatus) -> bool:
    if current is None:
        return True
    if current in FINAL_STATUSES:
        return False
    return STATUS_RANK[new] > STATUS_RANK[current]


class Attachment(Model):
    url: str | None = None
    media_id: str | None = None
    content_type: str = "application/octet-stream"
    name: str | None = None
    size: int | None = None  # bytes
    storage_key: str | None = None

    _size = field_validator("size", mode="before")(whole_number)  # 5 or 5.0, never true or "5"


class Sender(Model):
    kind: Literal["customer", "agent", "bot", "system"]
    id: str | None = None
    name: str | None = None


class Message(Model):
    id: str
    conversation_id: str = ""
    direction: Direction
    channel: Channel
    external_id: str | None = None
    sender: Sender
    text: str = ""
    html: str | None = None
    subject: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    provider_ts: datetime | None = None
    received_at: datetime
    status: DeliveryStatus | None = None
    error: str | None = None
    attempts: int = 0
    template: dict[str, Any] | None = None
    flags: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class InboundMessage(Model):
    """What a channel adapter hands to the sink: one customer message, normalised."""

    channel: Channel
    external_id: str
    endpoint: str = ""
    sender: Identity
    sender_name: str | None = None
    extra_identities: list[Identity] = Field(default_factory=list)
    # Identities proven by a signature (a web chat visitor's signed identity): they decide
    # the contact before the sender's own, and the contact counts as verified (``jwt``).
    signed_identities: list[Identity] = Field(default_factory=list)
    text: str = ""
    html: str | None = None
    subject: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    provider_ts: datetime | None = None
    language_hint: str | None = None
    contact_attributes: dict[str, Any] = Field(default_factory=dict)
    conversation_attributes: dict[str, Any] = Field(default_factory=dict)
    # Email threading: Message-IDs this message refers to (In-Reply-To first, then
    # References newest first), a verified conversation id from a reply token, and the
    # message's own Message-ID(s) to remember for later replies.
    thread_refs: list[str] = Field(default_factory=list)
    thread_conversation_id: str | None = None
    own_thread_ids: list[str] = Field(default_factory=list)
    # Loop guards: flagged messages are stored but never offered to agents as new work.
    flags: list[str] = Field(default_factory=list)
    route: bool = True
    meta: dict[str, Any] = Field(default_factory=dict)


class Amendment(Model):
    """A customer changing a message they sent: an edit (its new text and attachments)
    or a deletion. The message is found by (channel, ``target_external_id``); the change's
    own ``external_id`` makes a redelivery a no-op."""

    channel: Channel
    external_id: str
    target_external_id: str
    action: Literal["edited", "deleted"]
    sender: Identity
    sender_name: str | None = None
    endpoint: str = ""
    text: str = ""
    attachments: list[Attachment] | None = None  # None: unchanged
    provider_ts: datetime | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class AmendResult(Model):
    """What became of an ``Amendment``: applied to the stored message; stale (an older
    edit than one applied); duplicate (seen before); stored_new (the message was unknown,
    so the edit was stored as a message of its own); not_found (a deletion of a message
    never stored: nothing to mark)."""

    outcome: Literal["applied", "stale", "duplicate", "stored_new", "not_found"]
    conversation_id: str | None = None
    message_id: str | None = None


class StatusUpdate(Model):
    """A provider's delivery report for one of our outbound messages."""

    channel: Channel
    external_id: str
    status: DeliveryStatus
    error: str | None = None
    at: datetime | None = None


class IngestResult(Model):
    conversation_id: str
    message_id: str
    contact_id: str
    duplicate: bool = False
    conversation_state: Literal["new", "reopened", "existing"] = "existing"


class OutboundRequest(Model):
    """What the outbound service asks a channel adapter to deliver."""

    message: Message
    conversation: Conversation
    recipient: Identity
    contact_name: str = ""
    thread_ids: list[str] = Field(default_factory=list)  # email: Message-IDs of the thread


class SendResult(Model):
    ok: bool
    external_id: str | None = None
    status: DeliveryStatus = DeliveryStatus.SENT
    error: str | None = None
    retryable: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)
