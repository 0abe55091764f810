"""Self-service: FAQ answers before a person is needed, and the handoff when they are not enough.

An **episode** starts when a customer's first message in a new conversation (or in a
resolved one, or one nobody is handling) on an enabled channel matches an FAQ entry: the
message is stored but not offered to agents, the conversation gets the ``self_service``
flag and an ``self_service`` attribute describing the episode, and a durable timer sends
the answer (with the hint how to reach a person). The timer is written with the message,
so a crash right after the customer's message was acknowledged loses no answer.

During the episode (until ``faq.idle_resolve`` passes without a customer message):

* a handoff keyword (人工, agent …), an attachment, anything the FAQ cannot answer, the
  same question again (the answer did not help) or more than ``faq.max_answers`` answers
  → the message is routed as usual: offered, reply deadline armed, the FAQ exchange in the
  history for the agent;
* a different FAQ question → answered too;
* only thanks/ok ("好的，谢谢") → stored, nothing else.

When the episode goes quiet the conversation is resolved ``by: self-service`` and counted
as **deflected**; if no answer could be delivered it goes to agents instead
(**undelivered**). Episode ends are counted once each, cluster-wide, in the store.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway import metrics
from gateway.channels.base import ChannelAdapter
from gateway.config import GatewayConfig
from gateway.core.conversations import Conversations
from gateway.core.intake_hooks import Verdict
from gateway.core.outbound import Outbound
from gateway.core.outbox_payloads import offer_payload
from gateway.model import (
    FINAL_STATUSES,
    LOOP_GUARD_FLAG,
    Channel,
    Conversation,
    ConversationStatus,
    InboundMessage,
    Message,
    RoutingContext,
)
from gateway.routing.router import Router
from gateway.selfservice.bot_replies import (
    ONCE_TTL_MS,
    SELF_SERVICE_RESOLVER,
    auto_reply_allowed,
    bot_reply,
    bot_reply_once,
    has_sent,
    last_customer_message,
)
from gateway.selfservice.faq_book import FaqEntry, KeywordMatcher, only_phrases
from gateway.selfservice.faq_library import FaqLibrary
from gateway.selfservice.languages import customer_language, in_language
from gateway.selfservice.waiting import queue_lines, standing
from gateway.storage.base import DueTimer, Glance, Prepared, Store

log = logging.getLogger(__name__)

FLAG = "self_service"  # conversation flag: its latest episode is with the FAQ, no person yet
EPISODE = "self_service"  # conversation attribute describing that episode
BOT = "faq"  # sender name of FAQ answers
_END_COUNTERS = {"deflected": "faq_deflected", "handoff": "faq_handoffs", "undelivered": "faq_undelivered"}
MAX_QUESTIONS = 3  # the episode's latest questions kept for routing a handoff


class SelfService:
    """The FAQ interceptor (asked before routing) and its timer handlers."""

    def __init__(
        self,
        *,
        config: GatewayConfig,
        library: FaqLibrary,
        store: Store,
        outbound: Outbound,
        conversations: Conversations,
        router: Callable[[], Router],
        adapter_for: Callable[[Channel, str], ChannelAdapter | None],
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        faq = config.faq
        self.faq = faq
        self.agents = {t.agent for t in config.auth.tokens if t.agent}
        self.library = library
        self.store = store
        self.outbound = outbound
        self.conversations = conversations
        self.router = router
        self.adapter_for = adapter_for
        self.wake = wake
        self.clock = clock
        self.channels = set(faq.channels) - {Channel.EMAIL}
        if faq.email:
            self.channels.add(Channel.EMAIL)
        self.idle_ms = int(faq.idle_resolve * 1000)
        self.reopen_window_ms = int(config.routing.reopen_window * 1000)
        self.handoff = KeywordMatcher((k, True) for k in faq.handoff_keywords)
        self.acknowledgements = KeywordMatcher((k, True) for k in faq.acknowledgements)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # the interceptor ---------------------------------------------------------------

    async def inspect(self, message: InboundMessage, prepared: Prepared) -> Verdict | None:
        if message.channel not in self.channels or not message.route or LOOP_GUARD_FLAG in message.flags:
            return None
        conv = prepared.conversation
        now_ms = self._now_ms()
        episode = self._live_episode(conv, now_ms)
        if conv is not None and episode is not None:
            return self._within_episode(message, conv, episode, now_ms)
        entry = self._match(message) if conv is None or _nobody_on_it(conv) else None
        if entry is None or not self._can_answer(message):
            # Handled as usual; an old episode's flag goes, so that it keeps meaning
            # "with the FAQ, no person yet".
            return Verdict(flags_remove=[FLAG]) if conv is not None and FLAG in conv.flags else None
        token = secrets.token_hex(6)
        record = {
            "episode": token,
            "state": "active",
            "started_ms": now_ms,
            "last_ms": now_ms,
            "answers": 1,
            "entries": [entry.id],
            "questions": [(message.text or "").strip()],
        }
        return Verdict(
            route=False,
            opens=True,  # a question: it opens (or reopens) a conversation, the bot answers it
            flags_add=[FLAG],
            conversation_attributes={EPISODE: record},
            timers=[("faq_answer", f"{token}:1:{entry.id}", 0), ("faq_idle", token, self.idle_ms / 1000)],
        )

    def _live_episode(self, conv: Glance | None, now_ms: int) -> dict[str, Any] | None:
        if conv is None or FLAG not in conv.flags:
            return None
        episode = conv.attributes.get(EPISODE)
        if not isinstance(episode, dict) or episode.get("state") != "active":
            return None
        last = int(episode.get("last_ms") or 0)
        if now_ms - last >= self.idle_ms:
            return None
        if conv.status == ConversationStatus.RESOLVED.value:
            # resolved after the episode's last message (by ops, or as quiet): it is over
            return None if (conv.resolved_at_ms or 0) >= last else episode
        return None if conv.assignee or conv.offered else episode

    def _within_episode(self, message: InboundMessage, conv: Glance, episode: dict[str, Any], now_ms: int) -> Verdict:
        text = message.text or ""
        if not message.attachments:
            if self.handoff.contains_any(text):
                return self._handoff(conv, episode, now_ms, "asked", text)
            if only_phrases(self.acknowledgements, text):
                return Verdict(route=False, conversation_attributes={EPISODE: {**episode, "last_ms": now_ms}})
        entry = self._match(message, handoff_checked=True)
        answered = list(episode.get("entries") or [])
        if entry is None:
            return self._handoff(conv, episode, now_ms, "unanswered")
        if entry.id in answered:
            return self._handoff(conv, episode, now_ms, "repeated")
        if int(episode.get("answers") or 0) >= self.faq.max_answers:
            return self._handoff(conv, episode, now_ms, "limit")
        if not self._can_answer(message):
            return self._handoff(conv, episode, now_ms, "cannot_send")
        n = int(episode.get("answers") or 0) + 1
        questions = [*_questions(episode), text.strip()][-MAX_QUESTIONS:]
        record = {**episode, "last_ms": now_ms, "answers": n, "entries": [*answered, entry.id], "questions": questions}
        return Verdict(
            route=False,
            opens=True,
            conversation_attributes={EPISODE: record},
            timers=[("faq_answer", f"{episode['episode']}:{n}:{entry.id}", 0)],
        )

    def _handoff(
        self, conv: Glance, episode: dict[str, Any], now_ms: int, reason: str, asked: str | None = None
    ) -> Verdict:
        """To a person. "转人工" alone says nothing of what it is about: a customer who asks
        for a person is routed on the questions they asked before it, with their words."""
        record = {**episode, "state": "handed_off", "handed_off_ms": now_ms, "handoff": reason}
        questions = _questions(episode)
        routing_text = "\n".join([*questions, asked]) if asked is not None and questions else None
        if (
            conv.status == ConversationStatus.RESOLVED.value
            and now_ms - (conv.resolved_at_ms or 0) > self.reopen_window_ms
        ):
            # Too late to reopen: the message starts a new conversation; point it at the
            # one holding the FAQ exchange.
            record["conversation"] = conv.id
        return Verdict(
            route=True,
            flags_remove=[FLAG],
            conversation_attributes={EPISODE: record},
            timers=[("faq_end", f"{episode['episode']}:handoff:{reason}", 0)],
            routing_text=routing_text,
        )

    def _match(self, message: InboundMessage, *, handoff_checked: bool = False) -> FaqEntry | None:
        text = (message.text or "").strip()
        if not text or message.attachments or len(text) > self.faq.max_chars:
            return None
        if not handoff_checked and self.handoff.contains_any(text):
            return None  # they asked for a person
        return self.library.book.match(text)

    def _can_answer(self, message: InboundMessage) -> bool:
        return auto_reply_allowed(
            self.adapter_for(message.channel, message.endpoint), message.sender.value, message.flags
        )

    # timer handlers ---------------------------------------------------------------

    async def on_answer(self, timer: DueTimer, now_ms: int) -> int | None:
        """``faq_answer|conversation|episode:n:entry``: send the n-th answer of an episode."""
        token, n, entry_id = timer.argument.split(":", 2)
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None:
            return None
        if n == "1":  # the episode has begun, whatever happens to its answer
            await self.store.add_counts({"faq_answered": 1}, once=f"faq-start:{token}", once_ttl_ms=ONCE_TTL_MS)
        messages = await self.store.get_messages(conv.id, limit=200)
        tag = f"faq-answer:{token}:{n}"
        if not has_sent(messages, tag) and not await self._send_answer(conv, messages, token, entry_id, tag, now_ms):
            return None
        if await self.store.add_counts({"faq_answers": 1}, once=tag, once_ttl_ms=ONCE_TTL_MS):
            metrics.FAQ_ANSWERS.labels(conv.channel.value).inc()
            log.info("FAQ answered", extra={"conversation_id": conv.id, "faq": entry_id, "answer": int(n)})
        return None

    async def _send_answer(
        self, conv: Conversation, messages: list[Message], token: str, entry_id: str, tag: str, now_ms: int
    ) -> bool:
        """Send the answer of FAQ entry ``entry_id`` (or of the entry the question matches now,
        after a reload); False when none could go and the conversation went to agents."""
        entry = self.library.entry(entry_id)
        question = last_customer_message(messages)
        if entry is None and question is not None:
            entry = self.library.book.match(question.text)
        if entry is None:
            log.warning("FAQ entry gone before its answer went out", extra={"conversation_id": conv.id})
            await self._to_agents(conv, messages, token, now_ms)
            return False
        text = f"{entry.answer}\n\n{self.faq.hint}" if self.faq.hint.strip() else entry.answer
        text = in_language(text, self._language(conv, messages))
        flags = ["faq", f"faq:{entry.id}", f"faq-episode:{token}", tag]
        refused = await bot_reply(self.outbound, conv, bot=BOT, text=text, flags=flags)
        if refused is not None:
            log.warning(
                "FAQ answer refused (%s); handing over to a person", refused, extra={"conversation_id": conv.id}
            )
            await self._to_agents(conv, messages, token, now_ms)
            return False
        return True

    async def on_idle(self, timer: DueTimer, now_ms: int) -> int | None:
        """``faq_idle|conversation|episode``: a quiet episode ends — resolved as deflected,
        or to agents when none of its answers could be delivered."""
        token = timer.argument
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None:
            return None
        episode = conv.attributes.get(EPISODE)
        if not isinstance(episode, dict) or episode.get("episode") != token:
            # A later episode replaced it, which only happens once this one went quiet
            # (a handoff counted first, making this a no-op).
            await self._end(token, "deflected", conv.id)
            return None
        if episode.get("state") != "active":
            return None  # handed off: counted by faq_end
        due = int(episode.get("last_ms") or 0) + self.idle_ms
        if now_ms < due:
            return due
        if conv.status is not ConversationStatus.RESOLVED and (conv.assignee or conv.waiting_since):
            await self._end(token, "handoff", conv.id)  # a person (or a transfer) took it over
            return None
        messages = await self.store.get_messages(conv.id, limit=200)
        answers = [m for m in messages if f"faq-episode:{token}" in m.flags]
        if not any(m.status not in FINAL_STATUSES for m in answers):
            log.warning("no FAQ answer of the episode was delivered", extra={"conversation_id": conv.id})
            await self._to_agents(conv, messages, token, now_ms)
            return None
        if conv.status is not ConversationStatus.RESOLVED:
            await self.conversations.resolve(conv, by=SELF_SERVICE_RESOLVER)
        await self._end(token, "deflected", conv.id)
        return None

    async def on_end(self, timer: DueTimer, now_ms: int) -> int | None:
        """``faq_end|conversation|episode:handoff:reason``: count the handoff; confirm it to
        a customer who asked for a person."""
        token, outcome, reason = timer.argument.split(":", 2)
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None:
            return None
        if reason == "asked" and self.faq.handoff_reply.strip():
            messages = await self.store.get_messages(conv.id, limit=200)
            text = "\n".join([self.faq.handoff_reply.strip(), *await self._queue_lines(conv)])
            text = in_language(text, self._language(conv, messages))
            refused = await bot_reply_once(
                self.store, self.outbound, conv, bot=BOT, text=text, tag=f"faq-handoff:{token}"
            )
            if refused is not None:
                log.info("handoff confirmation not sent (%s)", refused, extra={"conversation_id": conv.id})
        await self._end(token, outcome, conv.id)
        return None

    def _language(self, conv: Conversation, messages: list[Message]) -> str | None:
        routing = conv.routing.language if conv.routing is not None else None
        return customer_language(messages, routing)

    async def _queue_lines(self, conv: Conversation) -> list[str]:
        """Where the customer stands, from live queue data (nothing once an agent has it)."""
        if conv.queue is None or conv.assignee:
            return []
        return queue_lines(self.faq, await standing(self.store, self.router(), self.agents, conv.queue, conv.id))

    async def _end(self, token: str, outcome: str, conversation_id: str) -> None:
        if await self.store.add_counts({_END_COUNTERS[outcome]: 1}, once=f"faq-end:{token}", once_ttl_ms=ONCE_TTL_MS):
            metrics.SELF_SERVICE.labels(outcome).inc()
            log.info("self-service episode ended", extra={"conversation_id": conversation_id, "outcome": outcome})

    async def _to_agents(self, conv: Conversation, messages: list[Message], token: str, now_ms: int) -> None:
        """No answer reached the customer: offer the conversation as a new one."""
        await self._end(token, "undelivered", conv.id)
        if conv.status is ConversationStatus.RESOLVED or conv.assignee or conv.waiting_since:
            return
        question = last_customer_message(messages)
        text = question.text if question else ""
        contact = await self.store.get_contact(conv.contact_id)
        decision = self.router().decide(
            RoutingContext(
                channel=conv.channel,
                text=text,
                subject=conv.subject,
                contact_attributes=contact.attributes if contact else {},
                attributes=conv.attributes,
                at=datetime.fromtimestamp(now_ms / 1000, UTC),
            )
        )
        first = decision.targets[0] if decision.targets else None
        await self.store.reroute(
            conv.id,
            expected_version=conv.routing_version,
            only_unassigned=True,
            queue=decision.queue,
            priority=decision.priority,
            reason="new",
            now_ms=now_ms,
            decision_json=decision.model_dump_json(),
            target_index=0,
            escalate_after_ms=int(first.timeout * 1000) if first and first.timeout else 0,
            payload=offer_payload(channel=conv.channel.value, skills=decision.skills, rule=decision.rule, preview=text),
            keep_wait=False,
        )


def _questions(episode: dict[str, Any]) -> list[str]:
    found = episode.get("questions")
    return [q for q in found if isinstance(q, str) and q] if isinstance(found, list) else []


def _nobody_on_it(conv: Glance) -> bool:
    """A resolved conversation, or one no person has nor waits to get: a message to it is
    the first of a new request."""
    return conv.status == ConversationStatus.RESOLVED.value or (not conv.assignee and not conv.offered)


SELF_SERVICE = web.AppKey("self_service", SelfService)
