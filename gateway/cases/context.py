"""What every part of cases works with: the workflow in force, the store, the outbound
service and the clock; and who acts on a case."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.cases.workflow import Category, Workflow
from gateway.channels.base import ChannelAdapter
from gateway.core.conversations import Conversations
from gateway.core.outbound import Outbound
from gateway.errors import RequestRejected
from gateway.model import Channel
from gateway.routing.router import Router
from gateway.storage.base import Store

SYSTEM = "system"  # who acts when nobody does: deadlines, closing, the customer's reply


@dataclass(frozen=True, slots=True)
class Actor:
    """Who takes a step: an agent (their name; customer texts go out as their reply),
    ops, or — ``automatic`` — the feedback form, a routing rule or the gateway itself
    (its texts go out as automatic messages)."""

    name: str
    agent: bool = False
    automatic: bool = False


class CaseRefused(RequestRejected):
    """A step the case cannot take (404, 409, 422), with the code the API answers."""


@dataclass
class CaseContext:
    workflow: Callable[[], Workflow]
    store: Store
    outbound: Outbound
    conversations: Conversations
    router: Callable[[], Router]
    adapter_for: Callable[[Channel], ChannelAdapter | None]
    wake: Callable[[], None] = lambda: None
    clock: Callable[[], float] = field(default=time.time)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def category(self, category_id: str) -> Category | None:
        return self.workflow().categories.get(category_id)

    def add_time(self, start_ms: int, seconds: float, *, business_hours: bool) -> int:
        """``start`` plus ``seconds``, counted in business hours when asked and the rules
        have a calendar; epoch ms."""
        calendar = self.router().business_hours if business_hours else None
        if calendar is None:
            return start_ms + int(seconds * 1000)
        start = datetime.fromtimestamp(start_ms / 1000, UTC)
        return int(calendar.add_business_time(start, seconds).timestamp() * 1000)
