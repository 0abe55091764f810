"""The steps an agent (or ops) takes on a case: progress, an extension, a party, the
resolution. Each is one guarded store step: it happens only if the case is still in the
stage it was read in, so two agents acting at once cannot both move it.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from gateway import metrics
from gateway.cases import stages, texts, timeline
from gateway.cases.context import Actor, CaseContext, CaseRefused
from gateway.cases.workflow import Workflow
from gateway.redaction import mask_card_numbers
from gateway.storage.case_records import CaseRecord, CaseStepPlan, StepResult

log = logging.getLogger(__name__)


class Steps:
    def __init__(self, ctx: CaseContext) -> None:
        self.ctx = ctx

    async def case(self, number: str) -> CaseRecord:
        case = await self.ctx.store.get_case(number)
        if case is None:
            raise CaseRefused(404, "not_found", "no such case")
        return case

    async def _apply(self, case: CaseRecord, plan: CaseStepPlan, step: str) -> CaseRecord:
        result = await self.ctx.store.case_step(plan)
        if not result.ok:
            raise _refusal(result, case)
        self.ctx.wake()
        metrics.CASES.labels(case.category, step).inc()
        log.info("case " + step, extra={"case": case.number, "stage": result.stage})
        return await self.case(case.number)

    def _texts(self, case: CaseRecord) -> tuple[Workflow, str, dict[str, str]]:
        """The workflow, the customer's language and the values every text may use."""
        workflow = self.ctx.workflow()
        language = case.language or workflow.default_language
        category = workflow.categories.get(case.category)
        values = {
            "number": case.number,
            "category": category.name.pick(language) if category else case.category,
            "stage": texts.stage_text(workflow, case.stage, language),
            "eta": texts.date_text(case.eta_ms, workflow, language),
        }
        return workflow, language, values

    async def progress(
        self, number: str, by: Actor, *, note: str, stage: str | None, internal: bool, eta: date | datetime | None
    ) -> CaseRecord:
        note = _masked(note)
        case = await self.case(number)
        problem = stages.progress_problem(case.stage, stage)
        if problem is None and not internal and case.stage in stages.DONE_STAGES and stage != stages.CLOSED:
            problem = f"the case is {case.stage}: only internal notes may be added"
        if problem:
            raise CaseRefused(409 if stage in (None, case.stage) else 422, "stage", problem)
        now = self.ctx.now_ms()
        new_eta = self._eta(case, eta) if eta is not None else None
        new_stage = stage or case.stage
        workflow, language, values = self._texts(case)
        values.update(stage=texts.stage_text(workflow, new_stage, language), note=note)
        if new_eta is not None:
            values["eta"] = texts.date_text(new_eta, workflow, language)
        customer_text = None if internal else texts.render(workflow.templates.progress, language, values)
        fields: dict[str, str] = {}
        if not internal:
            fields.update(last_note=note, last_note_at=str(now))
            if case.first_update_ms is None:
                fields["first_update_at"] = str(now)
        if new_eta is not None:
            fields["eta"] = str(new_eta)
        if new_stage == stages.CLOSED and case.stage != stages.CLOSED:
            fields["closed_at"] = str(now)
        plan = CaseStepPlan(
            number=number,
            now_ms=now,
            stages=[case.stage],
            stage=new_stage,
            set=fields or None,
            entry=timeline.entry(
                "progress" if not internal else "note",
                at=now,
                by=by.name,
                stage=new_stage,
                note=note,
                internal=internal,
                eta=new_eta,
                customer_text=customer_text,
                agent=by.agent or None,
            ),
            timers=[timeline.notify_timer(case.conversation_id, now)] if customer_text else None,
            event={
                "rk": "case.progress",
                "payload": timeline.payload(
                    "case.progress", case, note=note, internal=internal, by=by.name, eta_at=timeline.iso(new_eta)
                ),
            },
        )
        return await self._apply(case, plan, "progress")

    def _eta(self, case: CaseRecord, eta: date | datetime) -> int:
        """An expected date the customer is told: not past the deadline (that takes an
        extension, with its reason), not in the past."""
        ms = end_of(eta, self.ctx.workflow())
        if ms > case.due_ms:
            raise CaseRefused(
                422, "eta_after_deadline", "the expected date is after the case's deadline; extend it with a reason"
            )
        if ms < self.ctx.now_ms():
            raise CaseRefused(422, "eta_in_the_past", "the expected date has passed")
        return ms

    async def extend(self, number: str, by: Actor, *, until: date | datetime, reason: str) -> CaseRecord:
        reason = _masked(reason)
        case = await self.case(number)
        if case.stage not in stages.OPEN_STAGES:
            raise CaseRefused(409, "stage", f"a {case.stage} case has no deadline to extend")
        workflow, language, values = self._texts(case)
        due = end_of(until, workflow)
        if due <= case.due_ms:
            raise CaseRefused(422, "not_later", f"the new date must be after the deadline {timeline.iso(case.due_ms)}")
        if due > case.max_due_ms:
            raise CaseRefused(
                422,
                "past_max_resolve_within",
                f"the category allows no deadline after {timeline.iso(case.max_due_ms)} (max_resolve_within)",
            )
        now = self.ctx.now_ms()
        warn = now + int((due - now) * workflow.due_soon_at)
        values.update(reason=reason, eta=texts.date_text(due, workflow, language))
        plan = CaseStepPlan(
            number=number,
            now_ms=now,
            stages=list(stages.OPEN_STAGES),
            equals={"due_at": str(case.due_ms)},
            set={"due_at": str(due), "eta": str(due), "overdue": ""},
            incr={"extensions": 1},
            open_index="add",
            entry=timeline.entry(
                "extended",
                at=now,
                by=by.name,
                reason=reason,
                until=due,
                previous=case.due_ms,
                customer_text=texts.render(workflow.templates.extended, language, values),
                agent=by.agent or None,
            ),
            timers=[
                timeline.notify_timer(case.conversation_id, now),
                *timeline.deadline_timers(timeline.RESOLVE, due, warn),
            ],
            event={
                "rk": "case.extended",
                "payload": timeline.payload(
                    "case.extended",
                    case,
                    reason=reason,
                    due_at=timeline.iso(due),
                    previous_due_at=timeline.iso(case.due_ms),
                    extensions=case.extensions + 1,
                    by=by.name,
                ),
            },
        )
        return await self._apply(case, plan, "extended")

    async def add_party(self, number: str, by: Actor, *, name: str, email: str) -> CaseRecord:
        name = _masked(name)
        case = await self.case(number)
        if case.stage in stages.DONE_STAGES:
            raise CaseRefused(409, "stage", f"the case is {case.stage}")
        if any(p.get("email") == email for p in case.parties):
            raise CaseRefused(409, "party_exists", f"{email} is a party of the case already")
        now = self.ctx.now_ms()
        party = {"kind": "merchant", "name": name, "email": email, "added_by": by.name, "at": now}
        plan = CaseStepPlan(
            number=number,
            now_ms=now,
            stages=list(stages.OPEN_STAGES),
            party=timeline.json_object(party),
            entry=timeline.entry("party_added", at=now, by=by.name, party=name, email=email, internal=True),
            timers=[(f"{timeline.PARTY_MAIL}|{{number}}|{{party}}", now)],
            event={
                "rk": "case.party_added",
                "payload": timeline.payload(
                    "case.party_added", case, party={"kind": "merchant", "name": name, "email": email}, by=by.name
                ),
            },
        )
        return await self._apply(case, plan, "party_added")

    async def resolve(self, number: str, by: Actor, *, resolution: str) -> CaseRecord:
        resolution = _masked(resolution)
        case = await self.case(number)
        if case.stage not in stages.OPEN_STAGES:
            raise CaseRefused(409, "stage", f"the case is {case.stage} already")
        now = self.ctx.now_ms()
        workflow, language, values = self._texts(case)
        values.update(note=resolution, stage=texts.stage_text(workflow, stages.RESOLVED, language))
        on_time = now <= case.due_ms
        plan = CaseStepPlan(
            number=number,
            now_ms=now,
            stages=[case.stage],
            stage=stages.RESOLVED,
            set={
                "resolved_at": str(now),
                "resolved_by": by.name,
                "resolution": resolution,
                "on_time": "1" if on_time else "0",
                "last_note": resolution,
                "last_note_at": str(now),
            },
            open_index="remove",
            resolved_index="add",
            entry=timeline.entry(
                "resolved",
                at=now,
                by=by.name,
                stage=stages.RESOLVED,
                note=resolution,
                on_time=on_time,
                customer_text=texts.render(workflow.templates.resolved, language, values),
                agent=by.agent or None,
            ),
            timers=[
                timeline.notify_timer(case.conversation_id, now),
                (f"{timeline.CLOSE}|{{number}}|{now}", now + int(workflow.reopen_within * 1000)),
            ],
            event={
                "rk": "case.resolved",
                "payload": timeline.payload("case.resolved", case, resolution=resolution, on_time=on_time, by=by.name),
            },
        )
        return await self._apply(case, plan, "resolved")


def end_of(value: date | datetime, workflow: Workflow) -> int:
    """Epoch ms of a datetime, or of the last moment of a date in the workflow's time zone."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=workflow.zone)
        return int(aware.timestamp() * 1000)
    last = datetime.combine(value + timedelta(days=1), time(), tzinfo=workflow.zone) - timedelta(milliseconds=1)
    return int(last.astimezone(UTC).timestamp() * 1000)


def _refusal(result: StepResult, case: CaseRecord) -> CaseRefused:
    if result.reason == "not_found":
        return CaseRefused(404, "not_found", "no such case")
    if result.reason == "stage":
        return CaseRefused(409, "stage", f"the case moved on meanwhile: it is {result.stage} now")
    return CaseRefused(409, "conflict", f"the case {case.number} changed meanwhile; read it again and retry")


def _masked(text: str) -> str:
    """Notes, reasons and names are stored, published and sent to customers: no card
    number in full, whoever typed it (docs/security.md)."""
    return mask_card_numbers(text) or text
