"""The storage contract: what the gateway needs from a store, whatever backs it.

One implementation, ``RedisStore``, runs on a Redis server or, as ``MemoryStore``, on
fakeredis's in-memory engine; the contract tests (``tests/storage``) run over both.
Every method that changes more than one record is atomic: one Lua script, the same
scripts in both. Callers prepare everything that needs no stored state (ids, JSON, the
routing decision) as a plan, so the atomic part stays small.

Times are integers of epoch milliseconds at this boundary; the ``Store`` turns stored
records back into ``gateway.model`` types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.model import Backlogged, Contact, Conversation, IngestResult, Message, ServiceUnavailable
from gateway.storage.case_records import CaseStore
from gateway.storage.verification_records import VerificationStore


class StorageUnavailable(ServiceUnavailable):
    """The store cannot be reached; the caller answers with a retryable failure."""


class ReplicationUnconfirmed(StorageUnavailable):
    """A write reached the primary but not ``storage.min_replicas`` replicas in time: it
    must not be acknowledged (a failover now could lose it); the caller answers retryably."""


class NotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One AMQP message waiting for the broker's confirm.

    ``message_id`` is fixed when the entry is written and reused on every re-publish,
    so consumers can drop copies after a lost confirm.
    """

    entry_id: str  # the store's own handle, for acknowledging
    message_id: str
    exchange: str
    routing_key: str
    priority: int
    payload: str  # JSON template written by Python
    fields: str  # JSON of values only the atomic write knew (ids, versions, times)
    created_ms: int


@dataclass(slots=True)
class OutboxStats:
    depth: int
    oldest_ms: int | None  # creation time of the oldest unconfirmed entry


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


@dataclass(slots=True)
class QueueStats:
    waiting: int
    oldest_wait_ms: int | None  # wait start of the longest-waiting conversation


@dataclass(slots=True)
class Page:
    conversations: list[Conversation]
    next_before: int | None = None
    next_cursor: str | None = None  # where the next page starts (``find_conversations``)


@dataclass(slots=True)
class ConversationQuery:
    """A listing or search of conversations, newest first. ``q``: words that must all
    occur in the conversation's messages, its contact's name or identities, or a case
    number on it (see ``search_terms``). ``assignee`` "-" means unassigned. ``sla``:
    ``overdue`` (reply-by passed) or ``due_soon`` (reply-by within ``due_soon_ms``)."""

    q: str = ""
    status: str | None = None
    queue: str | None = None
    channel: str | None = None
    assignee: str | None = None
    contact_id: str | None = None
    sla: str | None = None
    cursor: str | None = None
    before: int | None = None
    limit: int = 50
    now_ms: int = 0
    due_soon_ms: int = 3_600_000


@dataclass(slots=True)
class DueTimer:
    member: str  # "kind|conversation_id|argument"
    due_ms: int

    @property
    def kind(self) -> str:
        return self.member.split("|", 2)[0]

    @property
    def conversation_id(self) -> str:
        return self.member.split("|", 2)[1]

    @property
    def argument(self) -> str:
        return self.member.split("|", 2)[2]


def timer_member(kind: str, conversation_id: str, argument: str | int) -> str:
    return f"{kind}|{conversation_id}|{argument}"


class Store(CaseStore, VerificationStore, Protocol):
    """Cases' part of the contract is ``CaseStore`` (``gateway.storage.case_records``),
    identity verification's ``VerificationStore`` (``gateway.storage.verification_records``)."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...

    # contacts and conversations
    async def lookup_contact(self, identity_keys: list[str]) -> Contact | None: ...
    async def peek_duplicate(self, channel: str, external_id: str) -> IngestResult | None: ...
    async def prepare(
        self,
        channel: str,
        external_id: str,
        identity_keys: list[str],
        *,
        endpoint: str,
        by_contact: bool,
        thread_refs: list[str],
    ) -> Prepared: ...
    async def ingest(self, plan: IngestPlan) -> IngestResult | Prepared:
        """Write the plan. An ``optimistic`` plan assumed a new contact: when one of its
        identities is known, nothing is written and the answer is what ``prepare`` reads."""
        ...
    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...
    async def get_messages(self, conversation_id: str, *, limit: int = 500) -> list[Message]: ...
    async def list_conversations(
        self,
        *,
        status: str | None = None,
        queue: str | None = None,
        contact_id: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> Page: ...
    async def get_contact(self, contact_id: str) -> Contact | None: ...
    async def find_conversations(self, query: ConversationQuery) -> Page:
        """Newest first; a page may hold fewer than ``limit`` (one call looks at a bounded
        number of entries) while ``next_cursor`` says there is more. ValueError for a
        cursor this store did not give."""
        ...

    async def index_terms(self, conversation_id: str, terms: list[str]) -> None:
        """Make the conversation findable by ``terms`` too (``search_terms``)."""
        ...

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None: ...
    async def amend_message(
        self,
        channel: str,
        change_id: str,
        target_id: str,
        *,
        identity_key: str,
        action: str,
        text: str,
        attachments_json: str,
        at_ms: int,
        now_ms: int,
        dedupe_ttl_ms: int,
        payload: str,
    ) -> Outcome:
        """A customer's edit (``action`` "edited": ``text``, and ``attachments_json`` unless
        empty) or deletion ("deleted") of their message ``(channel, target_id)``, applied
        once under the change's own provider id ``change_id`` (kept ``dedupe_ttl_ms``).
        Reasons: ok (a ``message.<action>`` event is written), stale (an edit older than one
        applied, or after the deletion), duplicate (this change was seen: the ids it named),
        not_found (no such message of this customer's within the dedupe time)."""
        ...

    async def thread_ids(self, conversation_id: str) -> list[str]: ...

    # assignment and routing
    async def claim(
        self,
        conversation_id: str,
        agent: str,
        *,
        version: int | None,
        capacity: int,
        now_ms: int,
        payload: str,
        queues: list[str] | None = None,
    ) -> Outcome:
        """``queues``: the queues the agent may take conversations from (None: any);
        ``not_qualified`` for a conversation waiting in another."""
        ...

    async def claim_next(
        self, agent: str, queues: list[str], *, capacity: int, now_ms: int, payload: str
    ) -> Outcome: ...
    async def reroute(
        self,
        conversation_id: str,
        *,
        expected_version: int | None,
        only_unassigned: bool,
        queue: str,
        priority: int,
        reason: str,
        now_ms: int,
        decision_json: str | None,
        target_index: int,
        escalate_after_ms: int,
        payload: str,
        keep_wait: bool,
    ) -> Outcome: ...
    async def resolve(self, conversation_id: str, *, by: str, now_ms: int, payload: str) -> Outcome: ...
    async def set_pending(self, conversation_id: str, *, now_ms: int) -> Outcome: ...
    async def active_conversations(self, agent: str) -> set[str]: ...
    async def awaiting_between(self, low_ms: int, high_ms: int, *, limit: int) -> list[Conversation]:
        """Conversations whose reply-by falls in [low, high], earliest first."""
        ...

    async def queue_stats(self, queues: list[str]) -> dict[str, QueueStats]: ...
    async def queue_position(self, queue: str, conversation_id: str) -> tuple[int | None, int]:
        """How many wait ahead of the conversation in ``queue`` (in claim order; None when
        it is not waiting there), and how many wait in all."""
        ...

    async def stats(self) -> dict[str, int]: ...
    async def add_counts(self, counts: dict[str, int], *, once: str = "", once_ttl_ms: int = 0) -> bool:
        """Add to named counters of ``stats()`` in one atomic step, cluster-wide. With
        ``once``, only the first call naming that key within ``once_ttl_ms`` counts, so a
        timer handler that runs twice counts once. True when it counted."""
        ...

    async def merge_contacts(self, keep: str, other: str, *, by: str, now_ms: int, payload: str) -> Outcome: ...

    async def verification_release(
        self, conversation_id: str, *, now_ms: int, payload: str, escalate_after_ms: int
    ) -> Outcome:
        """Offer a conversation held for verification on the queue of its stored decision,
        once (its hold flag goes with it). Reasons: not_held, resolved, already (claimed or
        waiting meanwhile: only the flag goes)."""
        ...

    # outbound messages and delivery status
    async def append_message(
        self,
        conversation_id: str,
        *,
        message_id: str,
        message_json: str,
        now_ms: int,
        kind: str,
        agent: str,
        payload: str,
        send: bool,
        claim: bool,
        assigned_payload: str,
        capacity: int = 0,
        queues: list[str] | None = None,
    ) -> Outcome: ...
    async def record_send(
        self,
        conversation_id: str,
        message_id: str,
        *,
        outcome: str,
        external_id: str,
        error: str,
        channel: str,
        now_ms: int,
        status: str,
        ext_ttl_ms: int,
        payload: str,
    ) -> Outcome: ...
    async def apply_status(
        self, channel: str, external_id: str, *, status: str, error: str, now_ms: int, payload: str, early_ttl_ms: int
    ) -> Outcome: ...

    # timers
    async def timers_due(self, now_ms: int, *, limit: int, lease_ms: int) -> list[DueTimer]: ...
    async def timer_set(self, member: str, due_ms: int) -> None: ...
    async def timer_done(self, member: str) -> None: ...
    async def timer_count(self) -> int: ...
    async def sla_fire(
        self,
        kind: str,
        conversation_id: str,
        seq: str,
        *,
        now_ms: int,
        payload: str,
        queue: str,
        priority: int,
        offer_payload: str,
    ) -> Outcome: ...

    async def window_closing(
        self, conversation_id: str, expires_ms: str, *, now_ms: int, payload: str, priority: int
    ) -> Outcome: ...

    # outbox
    async def outbox_read(self, consumer: str, *, count: int, block_ms: int, retry_own: bool) -> list[OutboxEntry]: ...
    async def outbox_reclaim(self, consumer: str, *, min_idle_ms: int, count: int) -> list[OutboxEntry]: ...
    async def outbox_ack(self, entry_ids: list[str]) -> None: ...
    async def outbox_stats(self) -> OutboxStats: ...

    # shared values: small strings every gateway process sees (a provider's access token,
    # a short lease on fetching it). Keys live under the store's prefix (``shared:<key>``);
    # a value disappears after its ``ttl_ms``.
    async def shared_get(self, key: str) -> str | None:
        """The value under ``key``, or None when absent or expired."""
        ...

    async def shared_set(self, key: str, value: str, *, ttl_ms: int) -> None:
        """Store ``value`` under ``key`` for ``ttl_ms``, replacing whatever was there."""
        ...

    async def shared_set_if_absent(self, key: str, value: str, *, ttl_ms: int) -> bool:
        """Store ``value`` for ``ttl_ms`` only if ``key`` holds nothing (a lease: ``SET NX
        PX``). True when it was stored."""
        ...

    async def shared_delete_if(self, key: str, value: str) -> bool:
        """Delete ``key`` only while it still holds ``value`` (compare-and-delete), so a
        caller never removes what another process wrote since. True when it deleted."""
        ...


def encode_attrs(values: dict[str, Any]) -> dict[str, str]:
    return {str(k): json.dumps(v, ensure_ascii=False) for k, v in values.items()}


__all__ = [
    "Backlogged",
    "ConversationQuery",
    "DueTimer",
    "EventTemplates",
    "Glance",
    "IngestPlan",
    "NotFound",
    "OutboxEntry",
    "OutboxStats",
    "Outcome",
    "Page",
    "Prepared",
    "QueueStats",
    "ReplicationUnconfirmed",
    "StorageUnavailable",
    "Store",
    "encode_attrs",
    "timer_member",
]
