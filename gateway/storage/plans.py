"""What a caller prepares for a write and what the write answers: the intake plan (``IngestPlan``
with its ``EventTemplates``), what intake reads first (``Prepared``, ``Glance``), a conditional
write's ``Outcome``; ``encode_attrs`` for attribute values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.model import IngestResult


@dataclass(slots=True)
class Glance:
    """The conversation a message would join, as it stands before the write."""

    id: str
    status: str
    assignee: str | None
    offered: bool  # waiting for a claim
    resolved_at_ms: int | None
    routing_version: int
    flags: set[str]
    attributes: dict[str, Any]


@dataclass(slots=True)
class Prepared:
    """What intake needs to know before routing, read in one step."""

    duplicate: IngestResult | None = None
    contact_id: str | None = None  # None: a new contact
    contact_attributes: dict[str, Any] | None = None
    conversation: Glance | None = None


@dataclass(slots=True)
class EventTemplates:
    """Outbox payloads prepared for each event the write may turn out to need."""

    inbound: str
    opened: str
    reopened: str
    offer: str


@dataclass(slots=True)
class IngestPlan:
    """Everything ``Store.ingest`` needs; prepared without reading storage."""

    channel: str
    external_id: str
    identities: list[str]  # identity keys, primary first
    contact_name: str
    contact_attributes: dict[str, str]  # name → JSON-encoded value
    conversation_attributes: dict[str, str]
    endpoint: str
    by_contact: bool  # thread by (contact, channel, endpoint); email threads by refs
    thread_refs: list[str]
    thread_conversation_id: str
    own_thread_ids: list[str]
    subject: str
    new_contact_id: str
    new_conversation_id: str
    message_id: str
    message_json: str
    now_ms: int
    received_ms: int
    reopen_window_ms: int
    dedupe_ttl_ms: int
    route: bool  # offer to agents if the conversation is not already offered or assigned
    opens: bool  # a request: it opens or reopens a conversation (with or without an offer)
    decision_json: str
    queue: str
    priority: int
    escalate_after_ms: int  # first target's timeout, 0 = none
    reply_by_ms: int  # 0 = do not arm reply tracking
    warn_ms: int
    window_expires_ms: int  # 0 = the channel has no window
    window_warn_ms: int
    events: EventTemplates
    search_terms: list[str] = field(default_factory=list)  # the conversation is found by these
    preview: str = ""  # the message's start, shown in lists (empty: keep the last one)
    flags_add: list[str] = field(default_factory=list)  # conversation flags to set
    flags_remove: list[str] = field(default_factory=list)
    # Follow-up work due after the write, as [kind, argument, delay ms]: it lands in the
    # timers with the message, so a crash right after the acknowledgement loses nothing.
    timers: list[list[str]] = field(default_factory=list)
    # Held for verification: stored, tracked and routed, but the offer waits (the decision
    # is kept on the conversation; ``verification_release`` makes the offer later).
    hold: bool = False
    # Refuse the message (``Backlogged``) while the outbox holds this many entries; 0 = never.
    outbox_limit: int = 0
    # ``events.opened`` carries the message (``broker.inbound_in_opened``): a conversation's
    # first message is then not published again as ``message.inbound``.
    inbound_in_opened: bool = False
    # Decided without ``prepare``, on the guess of a new contact and no thread: the store
    # writes only if no identity is known, else answers ``Prepared`` (one round trip).
    optimistic: bool = False


@dataclass(slots=True)
class Outcome:
    """What a conditional write did. ``reason`` says why nothing happened when not ``ok``:
    not_found, stale (routing version moved on), taken (someone else's), resolved,
    capacity (agent full), empty (nothing waiting), already, noop, unknown, ignored, same,
    not_assignee (a reply by an agent other than the assignee; ``assignee`` names them),
    not_qualified (the conversation waits in a queue the agent may not take from).
    """

    ok: bool
    reason: str = "ok"
    conversation_id: str | None = None
    message_id: str | None = None
    routing_version: int | None = None
    assignee: str | None = None
    status: str | None = None
    waited_ms: int | None = None  # a claim: how long the offer waited
    first_response_ms: int | None = None  # a reply that was the first response


def encode_attrs(values: dict[str, Any]) -> dict[str, str]:
    return {str(k): json.dumps(v, ensure_ascii=False) for k, v in values.items()}
