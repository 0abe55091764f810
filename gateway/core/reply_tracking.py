"""The reply promise: every customer message gets an agent's answer by its deadline, or
an alarm.

Ingest arms the deadline with the first unanswered customer message (``reply_by =
received + target``); an agent's reply stops the clock (and a reply that then fails gives
the deadline back); waiting on the customer (pending) pauses it, and the customer's next
message resumes what was left. The timers
below fire at ``warn_at`` of the target (``sla.warning``) and at the deadline
(``sla.breached`` plus a new offer with ``reason: sla_breach`` at raised priority), each
at most once per deadline: the store's write is conditional on the deadline's sequence.

Definitions of the metrics (docs/reply-tracking.md), computed from counters the store keeps:

* first response time — conversation opened (first customer message) → first agent reply;
* SLA attainment — deadlines answered in time ÷ deadlines that ended: answered in time,
  answered late, or breached and then closed (resolved, pending) without an answer;
* reply time — a deadline's first unanswered customer message → the agent's reply;
* ASA — total wait of claimed offers ÷ claims; abandonment — offered conversations
  resolved before any claim ÷ conversations offered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway import metrics
from gateway.config import ReplyTrackingConfig
from gateway.core.outbox_payloads import offer_payload, payload
from gateway.model import Channel, Conversation
from gateway.storage.base import DueTimer, Store

log = logging.getLogger(__name__)

# Deadline-driven priority: a waiting conversation whose deadline is near (the warning)
# moves up one priority step, so `next` serves it before equals with more time left.
WARNING_PRIORITY_RISE = 1


def sla_attainment(stats: dict[str, int]) -> float | None:
    """Deadlines answered in time ÷ deadlines that ended (see the module's definitions)."""
    ended = stats.get("sla_met", 0) + stats.get("sla_missed", 0) + stats.get("sla_unanswered", 0)
    return stats.get("sla_met", 0) / ended if ended else None


class BusinessCalendar(Protocol):
    def add_business_time(self, start: datetime, seconds: float) -> datetime:
        """``start`` plus ``seconds`` counted only inside business hours."""
        ...


class ReplyTracker:
    def __init__(
        self,
        *,
        store: Store,
        config: ReplyTrackingConfig,
        calendar: Callable[[], BusinessCalendar | None] = lambda: None,
        queue_skills: Callable[[str], list[str]] = lambda q: [],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self.calendar = calendar
        self.queue_skills = queue_skills
        self.clock = clock

    def deadline(self, channel: Channel, received_ms: int) -> tuple[int, int]:
        """(reply_by, warn_at) in epoch ms for a customer message received at ``received_ms``."""
        target = self.config.target_for(channel)
        calendar = self.calendar() if self.config.business_hours else None
        if calendar is None:
            return received_ms + int(target * 1000), received_ms + int(target * self.config.warn_at * 1000)
        start = datetime.fromtimestamp(received_ms / 1000, UTC)
        reply_by = calendar.add_business_time(start, target)
        warn = calendar.add_business_time(start, target * self.config.warn_at)
        return int(reply_by.timestamp() * 1000), int(warn.timestamp() * 1000)

    async def on_warning(self, timer: DueTimer, now_ms: int) -> int | None:
        result = await self.store.sla_fire(
            "warn",
            timer.conversation_id,
            timer.argument,
            now_ms=now_ms,
            payload=payload("sla.warning"),
            queue="",
            priority=WARNING_PRIORITY_RISE,
            offer_payload="",
        )
        if result.ok:
            metrics.REPLY_TRACKING.labels("warning").inc()
            log.info("reply deadline warning", extra={"conversation_id": timer.conversation_id})
        return None

    def breach_target(self, conv: Conversation) -> tuple[str, int]:
        """Where a breached conversation is offered: the escalations queue when configured,
        else the rule's last target, at raised priority."""
        last = conv.routing.targets[-1] if conv.routing and conv.routing.targets else None
        queue = self.config.escalation_queue or (last.queue if last else conv.queue) or "general"
        base = max(conv.priority, last.priority if last else 0)
        return queue, min(9, base + 2)

    async def on_breach(self, timer: DueTimer, now_ms: int) -> int | None:
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None:
            return None
        queue, priority = self.breach_target(conv)
        preview = ""
        for message in reversed(await self.store.get_messages(conv.id, limit=20)):
            if message.direction == "inbound":
                preview = message.text or message.subject or ""
                break
        result = await self.store.sla_fire(
            "breach",
            conv.id,
            timer.argument,
            now_ms=now_ms,
            payload=payload("sla.breached"),
            queue=queue,
            priority=priority,
            offer_payload=offer_payload(
                channel=conv.channel.value,
                skills=self.queue_skills(queue),
                rule=conv.routing.rule if conv.routing else None,
                preview=preview,
            ),
        )
        if result.ok:
            metrics.REPLY_TRACKING.labels("breach").inc()
            log.warning("reply deadline breached", extra={"conversation_id": conv.id, "queue": queue})
        return None

    async def on_window_closing(self, timer: DueTimer, now_ms: int) -> int | None:
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None:
            return None
        await self.store.window_closing(
            conv.id,
            timer.argument,
            now_ms=now_ms,
            payload=payload("window.closing"),
            priority=min(9, conv.priority + 2),
        )
        return None

    async def at_risk(self, state: str, *, due_soon_within: float, limit: int = 200) -> list[Conversation]:
        """``overdue``: past reply-by and unanswered; ``due_soon``: reply-by within the window."""
        now_ms = int(self.clock() * 1000)
        if state == "overdue":
            return await self.store.awaiting_between(0, now_ms, limit=limit)
        return await self.store.awaiting_between(now_ms + 1, now_ms + int(due_soon_within * 1000), limit=limit)

    async def summary(self) -> dict[str, Any]:
        stats = await self.store.stats()
        attainment = sla_attainment(stats)
        replies = stats.get("replies", 0)
        first = stats.get("first_responses", 0)
        claimed = stats.get("claimed", 0)
        offered = stats.get("offered", 0)
        return {
            "sla_attainment": round(attainment, 4) if attainment is not None else None,
            "replies": replies,
            "reply_seconds_avg": round(stats.get("reply_ms", 0) / replies / 1000, 3) if replies else None,
            "unanswered_breaches": stats.get("sla_unanswered", 0),
            "warnings": stats.get("sla_warnings", 0),
            "breaches": stats.get("sla_breaches", 0),
            "first_response_seconds_avg": round(stats.get("first_response_ms", 0) / first / 1000, 3) if first else None,
            "asa_seconds": round(stats.get("claim_wait_ms", 0) / claimed / 1000, 3) if claimed else None,
            "abandonment": round(stats.get("abandoned", 0) / offered, 4) if offered else None,
            "offered": offered,
            "claimed": claimed,
        }
