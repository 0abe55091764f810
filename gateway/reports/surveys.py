"""Satisfaction surveys: one question to the contacts active in a period, on their channel.

``start`` picks, among the conversations active in the period (updated in it), each
contact's latest one on the chosen channels, leaves out those who opted out — a contact
attribute ``survey_opt_out`` (a CRM may set it through the API channel's attributes), an
SMS contact whose last word was STOP, or one who answered an earlier survey with an
opt-out word — and writes one ``survey_send`` timer each, so a restart loses none and
every gateway process shares the work. The send goes through the outbound service like
any reply: a closed messaging window (WhatsApp, Messenger, Instagram, WeChat) or a channel
that cannot send is counted as skipped, never forced.

An answer within ``WINDOW_MS`` that reads as a score (the ratings' parser: ``5``, ``五星``,
``⭐⭐⭐⭐``, a comment after it) becomes the conversation's ``survey`` attribute
``{survey, score, comment, at}`` — it does not reopen the conversation nor reach an agent
— and counts; an opt-out word records ``survey_opt_out`` on the conversation. The
reports read both.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.core.ingest import Verdict
from gateway.core.outbound import Outbound
from gateway.model import LOOP_GUARD_FLAG, Channel, Conversation, Direction, InboundMessage
from gateway.selfservice.bot_replies import bot_reply
from gateway.selfservice.faq_book import KeywordMatcher, only_phrases
from gateway.selfservice.languages import customer_language, in_language
from gateway.selfservice.ratings import parse_rating
from gateway.storage.base import DueTimer, Prepared, Store, timer_member

log = logging.getLogger(__name__)

SEND = "survey_send"  # timer: survey_send|<conversation>|<survey id>
THANK = "survey_thanks"  # timer: survey_thanks|<conversation>|<survey id>
THANKS = "感谢您的反馈！/ Thank you for your feedback!"
PENDING = "survey-pending:"  # shared value per conversation: the survey awaiting its answer
RECORD = "survey:"  # shared value per survey: what was asked of whom
WINDOW_MS = 3 * 86_400_000  # answers count this long after the question
RECORD_TTL_MS = 400 * 86_400_000
MAX_RECIPIENTS = 5_000
LOOKBACK_MS = 90 * 86_400_000  # conversations created this long before the period may be active in it
MONDAY_MS = 4 * 86_400_000  # 1970-01-05T00:00Z: periodic surveys start on Mondays
SCHEDULE = "survey-period:"  # shared value per period: the process that sends it
FLAG = "survey"
BOT = "survey"
QUESTION = (
    "您好！请问您对我们最近的服务满意吗？请回复 1-5 的数字（5 为非常满意），回复“退订”不再接收此类问卷。\n"
    'How satisfied are you with our service lately? Reply with a number from 1 to 5 (5 = excellent); reply "STOP" to get no more surveys.'
)
ACTIVE = "surveys-active"  # shared value: a survey went out lately (else no message is checked)
ACTIVE_CHECK_MS = 10_000
OPT_OUT_WORDS = ["退订", "不要再发", "取消订阅", "stop", "unsubscribe", "opt out"]
SMS_OPT_OUT, SMS_OPT_IN = "sms_opt_out", "sms_opt_in"


class Surveys:
    # Acts only on an existing conversation (see ``Interceptor.needs_existing``).
    needs_existing = True

    def __init__(
        self, *, store: Store, outbound: Outbound, wake: Callable[[], None], clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.outbound = outbound
        self.wake = wake
        self.clock = clock
        self.opt_out = KeywordMatcher((w, True) for w in OPT_OUT_WORDS)
        self._active = False
        self._active_checked_ms = 0

    async def _any_active(self) -> bool:
        """Whether any survey may await an answer: read at most every ACTIVE_CHECK_MS per
        process, so intake pays nothing while no survey is out."""
        now = self._now_ms()
        if now - self._active_checked_ms >= ACTIVE_CHECK_MS:
            self._active = await self.store.shared_get(ACTIVE) is not None
            self._active_checked_ms = now
        return self._active

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # starting one ------------------------------------------------------------------

    async def start(
        self, *, from_ms: int, to_ms: int, channels: list[Channel] | None, question: str | None
    ) -> dict[str, Any]:
        survey_id = "sv_" + secrets.token_hex(6)
        latest: dict[str, Conversation] = {}
        opted_out: set[str] = set()
        before: int | None = None
        while True:
            page = await self.store.list_conversations(limit=200, before=before)
            for conv in page.conversations:
                if conv.attributes.get("survey_opt_out"):
                    opted_out.add(conv.contact_id)
                updated = int(conv.updated_at.timestamp() * 1000)
                if not from_ms <= updated < to_ms or (channels and conv.channel not in channels):
                    continue
                known = latest.get(conv.contact_id)
                if known is None or known.updated_at < conv.updated_at:
                    latest[conv.contact_id] = conv
            if page.next_before is None or page.next_before < from_ms - LOOKBACK_MS or len(latest) >= MAX_RECIPIENTS:
                break
            before = page.next_before
        chosen, skipped = [], 0
        for contact_id, conv in latest.items():
            contact = await self.store.get_contact(contact_id)
            if contact_id in opted_out or (contact is not None and contact.attributes.get("survey_opt_out")):
                skipped += 1
            else:
                chosen.append(conv)
        record = {"id": survey_id, "question": question or QUESTION, "from_ms": from_ms, "to_ms": to_ms,
                  "channels": [c.value for c in channels or []], "created_ms": self._now_ms(),
                  "selected": len(chosen), "opted_out": skipped}  # fmt: skip
        await self.store.shared_set(RECORD + survey_id, json.dumps(record, ensure_ascii=False), ttl_ms=RECORD_TTL_MS)
        now = self._now_ms()
        for conv in chosen:
            await self.store.timer_set(timer_member(SEND, conv.id, survey_id), now)
        await self.store.shared_set(ACTIVE, survey_id, ttl_ms=WINDOW_MS + 86_400_000)
        self._active_checked_ms = 0
        self.wake()
        return await self.status(survey_id) or record

    async def status(self, survey_id: str) -> dict[str, Any] | None:
        raw = await self.store.shared_get(RECORD + survey_id)
        if raw is None:
            return None
        record = json.loads(raw)
        stats = await self.store.stats()
        prefix = f"survey_{survey_id}_"
        counts = {k[len(prefix) :]: v for k, v in stats.items() if k.startswith(prefix)}
        answered = counts.get("answered", 0)
        record.update(
            sent=counts.get("sent", 0),
            skipped={k[len("skipped_") :]: v for k, v in counts.items() if k.startswith("skipped_")},
            answered=answered,
            opted_out=record.get("opted_out", 0) + counts.get("opt_out", 0),
            average=round(counts.get("score_sum", 0) / answered, 2) if answered else None,
            response_rate=round(answered / counts["sent"], 4) if counts.get("sent") else None,
        )
        record["from"] = datetime.fromtimestamp(record.pop("from_ms") / 1000, UTC).isoformat()
        record["to"] = datetime.fromtimestamp(record.pop("to_ms") / 1000, UTC).isoformat()
        record["created_at"] = datetime.fromtimestamp(record.pop("created_ms") / 1000, UTC).isoformat()
        return record

    # periodic surveys ----------------------------------------------------------------

    async def run_due(self, now_ms: int, every_ms: int, channels: list[Channel], question: str | None) -> str | None:
        """The survey of the period that ended last (periods of ``every_ms`` from a
        Monday), sent once however many processes ask; its id, or None."""
        end = MONDAY_MS + (now_ms - MONDAY_MS) // every_ms * every_ms
        if not await self.store.shared_set_if_absent(SCHEDULE + str(end), "1", ttl_ms=2 * every_ms + 86_400_000):
            return None
        started = await self.start(from_ms=end - every_ms, to_ms=end, channels=channels or None, question=question)
        log.info("periodic survey sent", extra={"survey": started["id"], "selected": started["selected"]})
        return str(started["id"])

    # the timer: one question -----------------------------------------------------

    async def on_send(self, timer: DueTimer, now_ms: int) -> int | None:
        survey_id = timer.argument
        raw = await self.store.shared_get(RECORD + survey_id)
        conv = await self.store.get_conversation(timer.conversation_id)
        if raw is None or conv is None:
            return None
        messages = await self.store.get_messages(conv.id, limit=200)
        tag = f"survey-request:{survey_id}"
        if any(tag in m.flags for m in messages):
            return None  # sent already (a rerun after a crash)
        last_in = next((m for m in reversed(messages) if m.direction is Direction.INBOUND), None)
        if last_in is not None and SMS_OPT_OUT in last_in.flags:
            await self._count(survey_id, conv.id, "skipped_opt_out")
            return None
        text = in_language(
            json.loads(raw)["question"], customer_language(messages, conv.routing.language if conv.routing else None)
        )
        refused = await bot_reply(self.outbound, conv, bot=BOT, text=text, flags=[FLAG, tag])
        if refused is not None:
            await self._count(survey_id, conv.id, f"skipped_{refused}")
            log.info("survey not sent: %s", refused, extra={"conversation_id": conv.id})
            return None
        await self.store.shared_set(PENDING + conv.id, survey_id, ttl_ms=WINDOW_MS)
        await self._count(survey_id, conv.id, "sent")
        return None

    async def on_thanks(self, timer: DueTimer, now_ms: int) -> int | None:
        """Thank the customer for an answer, once, in their language."""
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None:
            return None
        messages = await self.store.get_messages(conv.id, limit=200)
        tag = f"survey-thanks:{timer.argument}"
        if any(tag in m.flags for m in messages):
            return None
        text = in_language(THANKS, customer_language(messages, conv.routing.language if conv.routing else None))
        refused = await bot_reply(self.outbound, conv, bot=BOT, text=text, flags=[FLAG, tag])
        if refused is not None:
            log.info("survey thanks not sent: %s", refused, extra={"conversation_id": conv.id})
        return None

    async def _count(
        self, survey_id: str, conversation_id: str, what: str, extra: dict[str, int] | None = None
    ) -> None:
        await self.store.add_counts(
            {f"survey_{survey_id}_{what}": 1, **(extra or {})},
            once=f"survey:{survey_id}:{conversation_id}:{what}",
            once_ttl_ms=RECORD_TTL_MS,
        )

    # the interceptor: the answer ---------------------------------------------------

    async def inspect(self, message: InboundMessage, prepared: Prepared) -> Verdict | None:
        conv = prepared.conversation
        if conv is None or not message.route or LOOP_GUARD_FLAG in message.flags or message.attachments:
            return None
        text = (message.text or "").strip()
        if not text or len(text) > 300:
            return None
        if not await self._any_active():
            return None
        survey_id = await self.store.shared_get(PENDING + conv.id)
        if survey_id is None:
            return None
        now = datetime.fromtimestamp(self._now_ms() / 1000, UTC).isoformat()
        if only_phrases(self.opt_out, text):
            await self.store.shared_delete_if(PENDING + conv.id, survey_id)
            await self._count(survey_id, conv.id, "opt_out")
            return Verdict(route=False, conversation_attributes={"survey_opt_out": True})
        parsed = parse_rating(text)
        if parsed is None:
            return None  # something else: handled like any message
        score, comment = parsed
        if not await self.store.shared_delete_if(PENDING + conv.id, survey_id):
            return None
        await self._count(survey_id, conv.id, "answered", {f"survey_{survey_id}_score_sum": score})
        answer = {"survey": survey_id, "score": score, "comment": comment or None, "at": now}
        return Verdict(route=False, conversation_attributes={"survey": answer}, timers=[(THANK, survey_id, 0)])
