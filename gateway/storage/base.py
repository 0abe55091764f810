"""The storage contract: what the gateway needs from a store, whatever backs it.

Two implementations, ``RedisStore`` and ``MemoryStore``, pass one contract test suite
(``tests/storage``). Every method that changes more than one record is atomic: a Lua
script in Redis, a section without ``await`` in memory. Callers prepare everything that
needs no stored state (ids, JSON, the routing decision) as a plan, so the atomic part
stays small and the same in both.

Times are integers of epoch milliseconds at this boundary; the ``Store`` turns stored
records back into ``gateway.model`` types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gateway.model import Contact, Conversation, IngestResult, Message, ServiceUnavailable


class StorageUnavailable(ServiceUnavailable):
    """The store cannot be reached; the caller answers with a retryable failure."""


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
    decision_json: str
    queue: str
    priority: int
    escalate_after_ms: int  # first target's timeout, 0 = none
    reply_by_ms: int  # 0 = do not arm reply tracking
    warn_ms: int
    window_expires_ms: int  # 0 = the channel has no window
    window_warn_ms: int
    events: EventTemplates


@dataclass(slots=True)
class ClaimResult:
    ok: bool
    reason: Literal["ok", "not_found", "stale", "taken", "resolved", "capacity", "empty"] = "ok"
    conversation_id: str | None = None


@dataclass(slots=True)
class Page:
    conversations: list[Conversation]
    next_before: int | None = None


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


class Store(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...

    # contacts and conversations
    async def lookup_contact(self, identity_keys: list[str]) -> Contact | None: ...
    async def peek_duplicate(self, channel: str, external_id: str) -> IngestResult | None: ...
    async def ingest(self, plan: IngestPlan) -> IngestResult: ...
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

    # outbox
    async def outbox_read(self, consumer: str, *, count: int, block_ms: int, retry_own: bool) -> list[OutboxEntry]: ...
    async def outbox_reclaim(self, consumer: str, *, min_idle_ms: int, count: int) -> list[OutboxEntry]: ...
    async def outbox_ack(self, entry_ids: list[str]) -> None: ...
    async def outbox_stats(self) -> OutboxStats: ...


def encode_attrs(values: dict[str, Any]) -> dict[str, str]:
    return {str(k): json.dumps(v, ensure_ascii=False) for k, v in values.items()}


__all__ = [
    "ClaimResult",
    "DueTimer",
    "EventTemplates",
    "IngestPlan",
    "NotFound",
    "OutboxEntry",
    "OutboxStats",
    "Page",
    "StorageUnavailable",
    "Store",
    "encode_attrs",
    "timer_member",
]
