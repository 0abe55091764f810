"""A case's deadlines as timers on the gateway's timer scanner (exactly-once across
processes, restart-safe): ``first_update`` (the customer hears of progress) and
``resolve`` (the answer). Each fires ``case.due_soon`` at ``due_soon_at`` of its time
and ``case.overdue`` at the deadline; an overdue case's conversation is offered again,
at raised priority, on its category's queue.

A timer names the deadline it was set for (``<deadline>:<due ms>``); the store step
fires only while the case still has that deadline and is open, and only once (an
extension sets new timers, and a progress note ends the first-update deadline).
"""

from __future__ import annotations

import logging

from gateway import metrics
from gateway.cases import stages, timeline
from gateway.cases.context import SYSTEM, CaseContext
from gateway.core.outbox_payloads import offer_payload
from gateway.storage.base import DueTimer
from gateway.storage.case_records import CaseRecord, CaseStepPlan

log = logging.getLogger(__name__)


class Deadlines:
    def __init__(self, ctx: CaseContext) -> None:
        self.ctx = ctx

    async def on_due_soon(self, timer: DueTimer, now_ms: int) -> int | None:
        await self._fire("due_soon", timer, now_ms)
        return None

    async def on_overdue(self, timer: DueTimer, now_ms: int) -> int | None:
        await self._fire("overdue", timer, now_ms)
        return None

    async def _fire(self, kind: str, timer: DueTimer, now_ms: int) -> None:
        deadline, _, due_text = timer.argument.partition(":")
        due = int(due_text)
        case = await self.ctx.store.get_case(timer.conversation_id)
        if case is None or case.stage not in stages.OPEN_STAGES:
            return
        first_update = deadline == timeline.FIRST_UPDATE
        if first_update and case.first_update_ms is not None:
            return  # the customer heard of progress in time
        plan = CaseStepPlan(
            number=case.number,
            now_ms=now_ms,
            stages=list(stages.OPEN_STAGES),
            equals={("first_update_due" if first_update else "due_at"): str(due)},
            empty=["first_update_at"] if first_update else None,
            once=f"{kind}:{deadline}:{due}",
            set={"overdue": "1"} if kind == "overdue" and not first_update else None,
            entry=timeline.entry(kind, at=now_ms, by=SYSTEM, deadline=deadline, due=due, internal=True),
            offer=await self._offer(case) if kind == "overdue" else None,
            event={
                "rk": f"case.{kind}",
                "payload": timeline.payload(
                    f"case.{kind}", case, deadline=deadline, due_at=timeline.iso(due), queue=case.queue
                ),
            },
        )
        result = await self.ctx.store.case_step(plan)
        if result.ok:
            metrics.CASES.labels(case.category, kind).inc()
            log.warning(
                "case " + ("overdue" if kind == "overdue" else "due soon"),
                extra={"case": case.number, "deadline": deadline},
            )

    async def _offer(self, case: CaseRecord) -> dict[str, str] | None:
        """The conversation back to agents on the category's queue, priority raised."""
        conv = await self.ctx.store.get_conversation(case.conversation_id)
        category = self.ctx.category(case.category)
        router = self.ctx.router()
        queue = category.queue if category else case.queue
        if conv is None or queue not in router.queues():
            log.warning("overdue case not offered: no queue %r", queue, extra={"case": case.number})
            return None
        base = max(conv.priority, category.priority if category else 0)
        rise = self.ctx.workflow().overdue_priority_rise
        return {
            "conversation_id": conv.id,
            "queue": queue,
            "priority": str(min(9, base + rise)),
            "payload": offer_payload(
                channel=conv.channel.value,
                skills=router.queue_skills(queue),
                rule=conv.routing.rule if conv.routing else None,
                preview=f"[{case.number}] {case.summary}",
            ),
        }
