"""The storage contract: what the gateway needs from a store, whatever backs it.

One implementation, ``RedisStore``, runs on a Redis server or, as ``MemoryStore``, on
fakeredis's in-memory engine; the contract tests (``tests/storage``) run over both.
Every method that changes more than one record is atomic: one Lua script, the same
scripts in both. Callers prepare everything that needs no stored state (ids, JSON, the
routing decision) as a plan, so the atomic part stays small.

Times are integers of epoch milliseconds at this boundary; the ``Store`` turns stored
records back into ``gateway.model`` types. The values crossing the boundary live in
``plans`` (what a write is given and answers) and ``read_values`` (what reads answer);
they are importable from here too.
"""

from __future__ import annotations

from typing import Protocol

from gateway.model import Backlogged, Contact, Conversation, IngestResult, Message, ServiceUnavailable
from gateway.storage.case_records import CaseStore
from gateway.storage.plans import EventTemplates, Glance, IngestPlan, Outcome, Prepared, encode_attrs
from gateway.storage.read_values import (
    ConversationQuery,
    DueTimer,
    OutboxEntry,
    OutboxStats,
    Page,
    QueueStats,
    timer_member,
)
from gateway.storage.verification_records import VerificationStore


class StorageUnavailable(ServiceUnavailable):
    """The store cannot be reached; the caller answers with a retryable failure."""


class ReplicationUnconfirmed(StorageUnavailable):
    """A write reached the primary but not ``storage.min_replicas`` replicas in time: it
    must not be acknowledged (a failover now could lose it); the caller answers retryably."""


class NotFound(Exception):
    pass


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

    async def shared_get_many(self, keys: list[str]) -> list[str | None]:
        """The values under ``keys``, in order (None where absent), in one round trip."""
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
