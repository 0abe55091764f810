"""Cases as one part of the gateway: the steps, the timers they handle, the interceptor,
and the reads the API and the console need."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.cases import stages, stats, timeline
from gateway.cases.context import CaseContext
from gateway.cases.deadlines import Deadlines
from gateway.cases.library import WorkflowLibrary
from gateway.cases.notices import Notices
from gateway.cases.opening import Opening
from gateway.cases.parties import Parties
from gateway.cases.questions import Questions
from gateway.cases.steps import Steps
from gateway.storage.base import DueTimer
from gateway.storage.case_records import CaseRecord

log = logging.getLogger(__name__)

Handler = Callable[[DueTimer, int], Any]
MAX_STATS_CASES = 200_000


@dataclass(frozen=True, slots=True)
class Listing:
    stage: str | None = None
    category: str | None = None
    overdue: bool = False
    contact_id: str | None = None
    limit: int = 50


class Cases:
    def __init__(self, ctx: CaseContext, library: WorkflowLibrary) -> None:
        self.ctx = ctx
        self.library = library
        self.opening = Opening(ctx)
        self.steps = Steps(ctx)
        self.notices = Notices(ctx)
        self.deadlines = Deadlines(ctx)
        self.parties = Parties(ctx)
        self.questions = Questions(ctx, self.parties)

    def timer_handlers(self) -> dict[str, Handler]:
        return {
            timeline.NOTIFY: self.notices.on_notify,
            timeline.DUE_SOON: self.deadlines.on_due_soon,
            timeline.OVERDUE: self.deadlines.on_overdue,
            timeline.CLOSE: self.questions.on_close,
            timeline.PARTY_MAIL: self.parties.on_mail,
            timeline.PARTY_REPLY: self.parties.on_reply,
            timeline.ANSWER: self.questions.on_answer,
            timeline.REOPEN: self.questions.on_reopen,
            timeline.AUTO_OPEN: self.opening.on_auto_open,
        }

    async def get(self, number: str) -> CaseRecord | None:
        return await self.ctx.store.get_case(number)

    async def list(self, query: Listing) -> list[CaseRecord]:
        """Open cases first, the most overdue at the top (by deadline), then resolved and
        closed ones, newest first; ``overdue`` only those past their deadline."""
        store, now = self.ctx.store, self.ctx.now_ms()
        if query.contact_id:
            numbers = await store.case_numbers(index=f"contact:{query.contact_id}", newest_first=True, limit=500)
            found = await store.get_cases(numbers)
            found.sort(
                key=lambda c: (
                    c.stage not in stages.OPEN_STAGES,
                    c.due_ms if c.stage in stages.OPEN_STAGES else -c.created_ms,
                )
            )
        else:
            found = []
            if query.stage is None or query.stage in stages.OPEN_STAGES:
                high = now if query.overdue else None
                found += await store.get_cases(
                    await store.case_numbers(index="open", newest_first=False, high=high, limit=2000)
                )
            if not query.overdue and (query.stage is None or query.stage in stages.DONE_STAGES):
                for stage in [query.stage] if query.stage else list(stages.DONE_STAGES):
                    found += await store.get_cases(
                        await store.case_numbers(index=f"st:{stage}", newest_first=True, limit=query.limit)
                    )
                done = [c for c in found if c.stage in stages.DONE_STAGES]
                found = [c for c in found if c.stage in stages.OPEN_STAGES] + sorted(done, key=lambda c: -c.created_ms)
        once = {c.number: c for c in found}.values()  # a case that moved between two index reads
        picked = [
            c
            for c in once
            if (query.stage is None or c.stage == query.stage)
            and (query.category is None or c.category == query.category)
            and (not query.overdue or (c.stage in stages.OPEN_STAGES and c.due_ms < now))
        ]
        return picked[: query.limit]

    async def stats(self, from_ms: int, to_ms: int) -> dict[str, Any]:
        numbers = await self.ctx.store.case_numbers(
            index="all", newest_first=False, low=from_ms, high=to_ms - 1, limit=MAX_STATS_CASES
        )
        cases = await self.ctx.store.get_cases(numbers)
        return stats.summary(cases, self.ctx.workflow(), self.ctx.now_ms())


CASES = web.AppKey("cases", Cases)
