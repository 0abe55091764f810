"""Domain types of the gateway.

Pure data: no I/O, no imports from the rest of the package. Every type round-trips
through JSON (``model_dump_json`` / ``model_validate_json``) and takes keyword
arguments only, so a swapped field cannot slip through positionally.
"""

from __future__ import annotations

import base64
import math
import os
import re
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ServiceUnavailable(Exception):
    """Something the gateway depends on (storage) is down: answer "retry later"."""


class Backlogged(ServiceUnavailable):
    """The outbox holds ``broker.outbox_limit`` entries or more (the broker is away or
    slower than intake): a new customer message is refused with a retryable answer (HTTP
    503 with ``Retry-After``, SMTP 451) until the relay has caught up."""

    code = "backlogged"
    retry_after = 1

    def __init__(self, depth: int) -> None:
        super().__init__(f"{depth} outbox entries await the broker; retry later")
        self.depth = depth


class Model(BaseModel):
    """Base of every domain type: unknown keys from older/newer writers are ignored."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)


def utcnow() -> datetime:
    return datetime.now(UTC)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD.encode())


def new_id(prefix: str) -> str:
    """A sortable unique id: 48 bits of milliseconds then 80 random bits (ULID layout)."""
    # 130 bits of base 32 (two leading zero bits), encoded by base64's C code: 160 bits
    # give 32 digits without padding, the first 6 always zero; then to Crockford's alphabet.
    raw = int(time.time() * 1000).to_bytes(10, "big") + os.urandom(10)
    return f"{prefix}_{base64.b32encode(raw)[6:].translate(_TO_CROCKFORD).decode()}"


class Channel(StrEnum):
    API = "api"
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    WEBCHAT = "webchat"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    WECHAT = "wechat"
    FORM = "form"  # the feedback form (``/feedback``): answered by email or SMS


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    WECHAT = "wechat"
    WEBCHAT = "webchat"
    API = "api"
    # WhatsApp ids that are not phone numbers: a business-scoped user id (a customer with
    # a username, ``US.1349…``) or a group (``group:<id>``).
    WHATSAPP = "whatsapp"
    # A user of the business's own site, as its signed web chat identity names them
    # (``user:<sub>``, gateway.channels.webchat.signed).
    USER = "user"


class Identity(Model):
    """One address of a person, already normalised (see ``gateway.identity``)."""

    model_config = ConfigDict(frozen=True)

    kind: IdentityKind
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.value}"

    @classmethod
    def from_key(cls, key: str) -> Identity:
        kind, _, value = key.partition(":")
        return cls(kind=IdentityKind(kind), value=value)


class Contact(Model):
    id: str
    name: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)
    identities: list[Identity] = Field(default_factory=list)
    created_at: datetime
    merged_into: str | None = None


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
    size: int | None = Field(default=None, strict=True)  # bytes; true/false is not a size
    storage_key: str | None = None


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


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"


class SlaState(StrEnum):
    NONE = "none"  # nothing from the customer is waiting for an answer
    ACTIVE = "active"  # a reply is due by ``reply_by``
    WARNING = "warning"  # past ``warn_at`` of the target
    BREACHED = "breached"  # ``reply_by`` passed unanswered


class RouteTarget(Model):
    queue: str
    priority: int = 3
    timeout: float | None = None  # seconds, counted from the conversation's wait start


class RoutingDecision(Model):
    queue: str
    priority: int = 3
    skills: list[str] = Field(default_factory=list)
    rule: str | None = None
    targets: list[RouteTarget] = Field(default_factory=list)
    rules_version: str = ""
    explanation: list[str] = Field(default_factory=list)
    language: str | None = None
    open_case: str | None = None  # a case category the matched rule opens (``open_case:``)
    # The queue says ``requires_verification: true``: an unverified customer's conversation
    # is offered only once verification succeeded or failed (gateway.verification).
    requires_verification: bool = False


class RoutingContext(Model):
    """Everything the router may look at; built by ingest, pure input to the engine."""

    channel: Channel
    text: str = ""
    subject: str | None = None
    language_hint: str | None = None
    contact_attributes: dict[str, Any] = Field(default_factory=dict)  # tested as `contact.<name>`
    attributes: dict[str, Any] = Field(default_factory=dict)  # of the conversation, e.g. a phone-menu choice
    new_contact: bool = False
    verified: bool = False  # the contact's identity is verified now (tested as `verified`)
    at: datetime = Field(default_factory=utcnow)


class Conversation(Model):
    id: str
    contact_id: str
    channel: Channel
    endpoint: str = ""
    status: ConversationStatus = ConversationStatus.OPEN
    subject: str | None = None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    # routing
    routing: RoutingDecision | None = None
    routing_version: int = 0
    target_index: int = 0
    queue: str | None = None
    priority: int = 3
    waiting_since: datetime | None = None  # offered and not yet claimed since then
    assignee: str | None = None
    claimed_at: datetime | None = None
    # reply tracking
    awaiting_since: datetime | None = None  # first unanswered customer message
    reply_by: datetime | None = None
    sla_state: SlaState = SlaState.NONE
    sla_breaches: int = 0
    first_response_at: datetime | None = None
    first_response_seconds: float | None = None
    last_inbound_at: datetime | None = None
    last_outbound_at: datetime | None = None
    window_expires_at: datetime | None = None  # customer-service window, where one exists
    message_count: int = 0
    preview: str | None = None  # the start of the customer's latest message, for lists
    attributes: dict[str, Any] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)
    participants: list[str] = Field(default_factory=list)  # agents who held it or wrote in it


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


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


MAX_DURATION = 100 * 366 * 86400.0  # a century: longer "durations" are typos, and overflow date arithmetic


def parse_duration(value: str | int | float) -> float:
    """``30s``, ``10m``, ``2h``, ``1d`` (a bare number is seconds) → seconds.

    Always a finite number from 0 to ``MAX_DURATION``: ``NaN``, infinities (YAML ``.nan``,
    ``.inf``, ``1e400``) and absurd lengths are refused with ``ValueError``.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) if abs(value) <= MAX_DURATION else math.inf
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 2h, 1d)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DURATION:
        raise ValueError(f"not a duration: {value!r} (a finite length from 0 to 100 years)")
    return seconds
