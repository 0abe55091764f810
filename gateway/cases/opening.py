"""Opening a case on a conversation: its category's deadlines, its number, and the
customer told the number and the date they will be answered by."""

from __future__ import annotations

import logging

from gateway import metrics
from gateway.cases import numbers, texts, timeline
from gateway.cases.context import Actor, CaseContext, CaseRefused
from gateway.cases.workflow import Category
from gateway.redaction import mask_card_numbers
from gateway.storage.base import DueTimer
from gateway.storage.case_records import CaseOpenPlan, CaseRecord

log = logging.getLogger(__name__)

MAX_SUMMARY = 2000
MAX_RULE_SUMMARY = 500


class Opening:
    def __init__(self, ctx: CaseContext) -> None:
        self.ctx = ctx

    async def on_auto_open(self, timer: DueTimer, now_ms: int) -> int | None:
        """``case_auto_open|<conversation>|<category>``: a routing rule's ``open_case``. The
        conversation gets the case unless it has (or had) one; the customer's first words
        are its summary."""
        conv = await self.ctx.store.get_conversation(timer.conversation_id)
        if conv is None or conv.attributes.get("case"):
            return None
        if self.ctx.category(timer.argument) is None:
            log.warning("a rule's open_case names no category of the workflow: %s", timer.argument)
            return None
        messages = await self.ctx.store.get_messages(conv.id, limit=20)
        first = next((m for m in messages if m.direction == "inbound" and m.text.strip()), None)
        summary = (first.text if first else conv.subject or "") or timer.argument
        rule = conv.routing.rule if conv.routing and conv.routing.rule else "rule"
        try:
            await self.open(conv.id, timer.argument, summary[:MAX_RULE_SUMMARY], Actor(f"rule:{rule}", automatic=True))
        except CaseRefused as exc:
            log.info("rule did not open a case: %s", exc.code, extra={"conversation_id": conv.id})
        return None

    async def open(self, conversation_id: str, category_id: str, summary: str, by: Actor) -> CaseRecord:
        """The new case; ``CaseRefused`` for an unknown category (422), conversation (404),
        or one that has an open case already (409 ``case_exists``, naming it)."""
        workflow = self.ctx.workflow()
        category = workflow.categories.get(category_id)
        if category is None:
            known = ", ".join(sorted(workflow.categories))
            raise CaseRefused(422, "unknown_category", f"no category {category_id!r} (the categories: {known})")
        conv = await self.ctx.store.get_conversation(conversation_id)
        if conv is None:
            raise CaseRefused(404, "not_found", "no such conversation")
        contact = await self.ctx.store.get_contact(conv.contact_id)
        messages = await self.ctx.store.get_messages(conv.id, limit=50)
        language = texts.pick_language(workflow, contact=contact, conversation=conv, messages=messages)
        now = self.ctx.now_ms()
        summary = (mask_card_numbers(summary) or "").strip()[:MAX_SUMMARY]  # a form's text is the customer's
        plan = self._plan(conv.id, category_id, category, summary, language, by, now)
        result = await self.ctx.store.case_open(plan)
        if result.reason == "exists":
            raise CaseRefused(409, "case_exists", f"the conversation already has the open case {result.number}")
        if not result.ok or result.number is None:
            raise CaseRefused(404, "not_found", "no such conversation")
        self.ctx.wake()
        metrics.CASES.labels(category_id, "opened").inc()
        log.info("case opened", extra={"case": result.number, "conversation_id": conv.id, "category": category_id})
        case = await self.ctx.store.get_case(result.number)
        assert case is not None
        return case

    def _plan(
        self, cid: str, category_id: str, category: Category, summary: str, language: str, by: Actor, now: int
    ) -> CaseOpenPlan:
        workflow = self.ctx.workflow()
        add = self.ctx.add_time
        hours = category.business_hours
        first_due = add(now, category.first_update_within, business_hours=hours)
        due = add(now, category.resolve_within, business_hours=hours)
        max_due = add(now, category.max_resolve_within, business_hours=hours)
        first_warn = add(now, category.first_update_within * workflow.due_soon_at, business_hours=hours)
        due_warn = add(now, category.resolve_within * workflow.due_soon_at, business_hours=hours)
        customer_text = texts.render(
            workflow.templates.opened,
            language,
            {
                "number": "{number}",  # the store fills the number in (see below)
                "category": category.name.pick(language),
                "stage": texts.stage_text(workflow, "received", language),
                "eta": texts.date_text(due, workflow, language),
                "summary": summary,
            },
        )
        entry = timeline.entry(
            "opened",
            at=now,
            by=by.name,
            stage="received",
            category=category_id,
            summary=summary,
            eta=due,
            customer_text=customer_text,
            agent=by.agent or None,
            auto=by.automatic or None,
        )
        return CaseOpenPlan(
            stem=numbers.stem(workflow, now),
            conversation_id=cid,
            category=category_id,
            kind=category.kind,
            summary=summary,
            queue=category.queue,
            language=language,
            by=by.name,
            now_ms=now,
            first_update_due_ms=first_due,
            due_ms=due,
            max_due_ms=max_due,
            entry=entry,
            timers=[
                timeline.notify_timer(cid, now),
                *timeline.deadline_timers(timeline.FIRST_UPDATE, first_due, first_warn),
                *timeline.deadline_timers(timeline.RESOLVE, due, due_warn),
            ],
            payload=timeline.payload(
                "case.opened",
                None,
                category=category_id,
                kind=category.kind,
                summary=summary,
                by=by.name,
                first_update_due_at=timeline.iso(first_due),
                due_at=timeline.iso(due),
            ),
        )
