"""What the store's reads answer: outbox entries and depth, queue figures, pages and queries of
conversations, due timers (``timer_member`` spells a timer's member)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.model import Conversation
from gateway.storage.plans import EventTemplates as EventTemplates
from gateway.storage.plans import Glance as Glance
from gateway.storage.plans import IngestPlan as IngestPlan
from gateway.storage.plans import Outcome as Outcome
from gateway.storage.plans import Prepared as Prepared
from gateway.storage.plans import encode_attrs as encode_attrs


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
    ``overdue`` (reply-by passed) or ``due_soon`` (reply-by within ``due_soon_ms``).
    ``reader``: the agent whose read scope applies (``gateway/web/read_scope.py``), with the
    queues they are served from in ``reader_queues``; None reads everything (ops)."""

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
    reader: str | None = None
    reader_queues: list[str] = field(default_factory=list)


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
