"""The customer asks where their case stands — on any channel, whether or not an agent is
online — and the gateway answers at once with stage, latest note and expected date.

An ingest interceptor (asked after ratings, before the FAQ) looks at every customer message:

* on a merchant's conversation: the merchant's reply, for ``gateway.cases.parties``;
* naming case numbers: the ones that are the sender's own are answered (the message is
  kept from agents); a number that is not theirs — someone else's or none at all — gets
  the ``not_found`` text, the same words and the same reads either way, and the message
  goes to agents as usual, so a person can help a customer writing from a new address;
* a short message asking for progress (``进度``, ``status`` …) from someone with an open
  case: answered with that case (the latest three), kept from agents;
* any other reply on a resolved case's conversation within the reopen window reopens the
  case (and the conversation reopens and goes to agents as usual).

The answers go out from ``case_answer`` timers written with the message, so an answer is
never lost to a crash after the message was acknowledged.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata

from gateway.cases import numbers, stages, texts, timeline
from gateway.cases.context import SYSTEM, CaseContext
from gateway.cases.notices import BOT, CASE_FLAG
from gateway.cases.parties import Parties
from gateway.core.intake_hooks import Verdict
from gateway.core.outbound import ReplyRefused
from gateway.model import AUTO_FLAG, LOOP_GUARD_FLAG, Channel, ConversationStatus, InboundMessage
from gateway.storage.base import DueTimer, Prepared
from gateway.storage.case_records import CaseRecord, CaseStepPlan

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 60  # a longer message is more than "where is my case?": agents see it
MAX_ANSWERED = 3


def asks_progress(text: str, keywords: list[str]) -> bool:
    """Whether a short message holds one of ``keywords`` (Latin ones as whole words)."""
    normal = unicodedata.normalize("NFKC", text or "").casefold().strip()
    if not normal or len(normal) > MAX_QUESTION_CHARS:
        return False
    for keyword in keywords:
        word = unicodedata.normalize("NFKC", keyword).casefold()
        if word.isascii():
            if _whole_word(word, normal):
                return True
        elif word in normal:
            return True
    return False


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _whole_word(word: str, text: str) -> bool:
    """``word`` in ``text`` with no Latin letter or digit on either side. Plain string
    search: the workflow file's words never become a pattern run on customer text."""
    start = text.find(word)
    while word and start >= 0:
        end = start + len(word)
        if (start == 0 or text[start - 1] not in _WORD_CHARS) and (end == len(text) or text[end] not in _WORD_CHARS):
            return True
        start = text.find(word, start + 1)
    return False


class Questions:
    def __init__(self, ctx: CaseContext, parties: Parties) -> None:
        self.ctx = ctx
        self.parties = parties

    # the interceptor ---------------------------------------------------------------

    async def inspect(self, message: InboundMessage, prepared: Prepared) -> Verdict | None:
        if LOOP_GUARD_FLAG in message.flags or not message.route or message.channel is Channel.FORM:
            return None  # a machine's mail; or a form, which opens a case of its own
        glance = prepared.conversation
        flags, attributes = (glance.flags, glance.attributes) if glance else (set(), {})
        if glance is None and message.thread_conversation_id:
            threaded = await self.ctx.store.get_conversation(message.thread_conversation_id)
            if threaded is not None:
                flags, attributes = set(threaded.flags), threaded.attributes
        party = self.parties.verdict(message, flags, attributes)
        if party is not None:
            return party
        workflow = self.ctx.workflow()
        digest = hashlib.sha256(f"{message.channel.value}:{message.external_id}".encode()).hexdigest()[:16]
        named = numbers.numbers_in(f"{message.subject or ''} {message.text}", workflow)
        if named:
            return await self._named(named, prepared.contact_id, digest)
        if prepared.contact_id and asks_progress(message.text, workflow.progress_keywords):
            open_cases = await self._open_cases(prepared.contact_id)
            if open_cases:
                return _answer(digest, "status", open_cases)
        linked = attributes.get("case")
        if glance is not None and glance.status == ConversationStatus.RESOLVED.value and isinstance(linked, str):
            return Verdict(timers=[(timeline.REOPEN, f"{linked}:{self.ctx.now_ms()}", 0)])
        return None

    async def _named(self, named: list[str], contact_id: str | None, digest: str) -> Verdict:
        theirs = []
        for number in named:
            case = await self.ctx.store.get_case(number)  # read whether or not it will count
            if case is not None and await self._belongs(case, contact_id):
                theirs.append(number)
        if theirs:
            return _answer(digest, "status", theirs)
        return Verdict(timers=[(timeline.ANSWER, f"{digest}:not_found:{named[0]}", 0)])

    async def _belongs(self, case: CaseRecord, contact_id: str | None) -> bool:
        if not contact_id:
            return False
        if case.contact_id == contact_id:
            return True
        owner = await self.ctx.store.get_contact(case.contact_id)
        return owner is not None and owner.merged_into == contact_id

    async def _open_cases(self, contact_id: str) -> list[str]:
        recent = await self.ctx.store.case_numbers(index=f"contact:{contact_id}", newest_first=True, limit=50)
        found = await self.ctx.store.get_cases(recent)
        return [c.number for c in found if c.stage in stages.OPEN_STAGES][:MAX_ANSWERED]

    # timer handlers ----------------------------------------------------------------

    async def on_answer(self, timer: DueTimer, now_ms: int) -> int | None:
        """``case_answer|<conversation>|<digest>:<status|not_found>:<numbers>``."""
        digest, mode, listed = timer.argument.split(":", 2)
        conv = await self.ctx.store.get_conversation(timer.conversation_id)
        if conv is None:
            return None
        tag = f"case-answer:{digest}"
        messages = await self.ctx.store.get_messages(conv.id, limit=200)
        if any(tag in m.flags for m in messages):
            return None
        workflow = self.ctx.workflow()
        contact = await self.ctx.store.get_contact(conv.contact_id)
        language = texts.pick_language(workflow, contact=contact, conversation=conv, messages=messages)
        cases = await self.ctx.store.get_cases(listed.split(",")) if mode == "status" else []
        if mode == "status":
            text = "\n\n".join(self._status_text(case, language) for case in cases)
        else:
            text = texts.render(workflow.templates.not_found, language, {"number": listed})
        if not text:
            return None
        try:
            await self.ctx.outbound.reply(
                conv, agent=BOT, text=text, sender_kind="bot", flags=[AUTO_FLAG, CASE_FLAG, tag]
            )
        except ReplyRefused as exc:
            log.info("case status answer not sent (%s)", exc.code, extra={"conversation_id": conv.id})
            return None
        for case in cases:
            await self.ctx.store.case_step(
                CaseStepPlan(
                    number=case.number,
                    now_ms=now_ms,
                    once=f"asked:{digest}",
                    link=conv.id,
                    entry=timeline.entry(
                        "customer_asked", at=now_ms, by=SYSTEM, conversation_id=conv.id, channel=conv.channel.value
                    ),
                )
            )
        return None

    def _status_text(self, case: CaseRecord, language: str) -> str:
        workflow = self.ctx.workflow()
        category = workflow.categories.get(case.category)
        return texts.render(
            workflow.templates.status,
            language,
            {
                "number": case.number,
                "category": category.name.pick(language) if category else case.category,
                "stage": texts.stage_text(workflow, case.stage, language),
                "note": case.last_note or texts.default_note(language),
                "eta": texts.date_text(case.resolved_ms or case.eta_ms, workflow, language),
            },
        )

    async def on_reopen(self, timer: DueTimer, now_ms: int) -> int | None:
        """``case_reopen|<conversation>|<number>:<message ms>``: the customer replied after
        the resolution; within the reopen window the case is investigated again."""
        number, _, at_text = timer.argument.rpartition(":")
        case = await self.ctx.store.get_case(number)
        workflow = self.ctx.workflow()
        if case is None or case.stage != stages.RESOLVED or case.resolved_ms is None:
            return None
        if int(at_text) - case.resolved_ms > workflow.reopen_within * 1000:
            return None
        category = workflow.categories.get(case.category)
        hours = bool(category and category.business_hours)
        within = category.resolve_within if category else (case.original_due_ms - case.created_ms) / 1000
        longest = category.max_resolve_within if category else within
        due = self.ctx.add_time(now_ms, within, business_hours=hours)
        warn = now_ms + int((due - now_ms) * workflow.due_soon_at)
        plan = CaseStepPlan(
            number=number,
            now_ms=now_ms,
            stages=[stages.RESOLVED],
            equals={"resolved_at": str(case.resolved_ms)},
            stage=stages.INVESTIGATING,
            set={
                "resolved_at": "",
                "resolved_by": "",
                "on_time": "",
                "due_at": str(due),
                "eta": str(due),
                "max_due_at": str(self.ctx.add_time(now_ms, longest, business_hours=hours)),
                "overdue": "",
            },
            incr={"reopened": 1},
            open_index="add",
            resolved_index="remove",
            link=timer.conversation_id,
            entry=timeline.entry(
                "reopened", at=now_ms, by="customer", stage=stages.INVESTIGATING, conversation_id=timer.conversation_id
            ),
            timers=timeline.deadline_timers(timeline.RESOLVE, due, warn),
            event={"rk": "case.reopened", "payload": timeline.payload("case.reopened", case, due_at=timeline.iso(due))},
        )
        await self.ctx.store.case_step(plan)
        return None

    async def on_close(self, timer: DueTimer, now_ms: int) -> int | None:
        """``case_close|<number>|<resolved ms>``: nobody reopened it; the case is closed."""
        case = await self.ctx.store.get_case(timer.conversation_id)
        if case is None or case.stage != stages.RESOLVED or str(case.resolved_ms) != timer.argument:
            return None
        await self.ctx.store.case_step(
            CaseStepPlan(
                number=case.number,
                now_ms=now_ms,
                stages=[stages.RESOLVED],
                equals={"resolved_at": timer.argument},
                stage=stages.CLOSED,
                set={"closed_at": str(now_ms)},
                entry=timeline.entry("closed", at=now_ms, by=SYSTEM, stage=stages.CLOSED),
                event={"rk": "case.closed", "payload": timeline.payload("case.closed", case)},
            )
        )
        return None


def _answer(digest: str, mode: str, listed: list[str]) -> Verdict:
    """Answered by the gateway: stored, kept from agents, not reopening anything."""
    return Verdict(route=False, opens=False, timers=[(timeline.ANSWER, f"{digest}:{mode}:{','.join(listed)}", 0)])
