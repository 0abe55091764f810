"""Conversations and how they are routed: status, reply-tracking state, routing decisions and
what rules see (``RoutingContext``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from gateway.model.basics import Model, utcnow
from gateway.model.contacts import Channel


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
