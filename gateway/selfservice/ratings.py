"""Ratings (CSAT): a request after a person resolves a conversation, and the customer's score.

After a resolve by an agent or ops (not by self-service), a durable ``csat_request``
timer sends ``csat.prompt`` on the conversation's channel — a timer rather than a send in
the resolve hook, so the agent's resolve call never waits for it or fails with it, and a
storage hiccup only delays it. It is skipped (logged, counted by reason) when no person
answered in the conversation, the customer's last message was an automatic one
(loop guard), the channel cannot send, or its messaging window has closed.

A reply to a resolved conversation within ``csat.window`` of the resolve, after a request
went out, that reads as a score (see ``parse_rating``) is stored with the conversation as
its ``rating`` attribute and does not reopen it; a ``csat_rated`` timer counts it and
thanks the customer. Anything else (text, a late or second reply) reopens as usual.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway import metrics
from gateway.channels.base import ChannelAdapter
from gateway.config import CsatConfig
from gateway.core.intake_hooks import Verdict
from gateway.core.outbound import Outbound
from gateway.model import (
    FINAL_STATUSES,
    LOOP_GUARD_FLAG,
    Channel,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    InboundMessage,
)
from gateway.selfservice.bot_replies import (
    ONCE_TTL_MS,
    SELF_SERVICE_RESOLVER,
    auto_reply_allowed,
    bot_reply,
    bot_reply_once,
    last_customer_message,
    ms,
)
from gateway.selfservice.languages import customer_language, in_language
from gateway.storage.base import DueTimer, Prepared, Store, timer_member

log = logging.getLogger(__name__)

RATING = "rating"  # conversation attribute: {score, comment, at, for}
REQUEST_FLAG = "csat-request"
BOT = "csat"
MAX_COMMENT = 500
QUEUED_WAIT_MS = 1000

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_STARS = "⭐★🌟"
_NUMBER = re.compile(
    r"(?P<n>[1-5])(?![0-9])(?:\s*(?P<unit>颗星|星|分(?!钟)|stars?\b|points?\b|/\s*5\b|out\s+of\s+5\b))?",
    re.IGNORECASE,
)
_CN_NUMBER = re.compile(r"(?P<n>[一二两三四五])\s*(?P<unit>颗星|星|分(?!钟))")
# A number followed by one of these is a quantity ("3天了", "2 笔", "5 days"), not a score.
_QUANTITY = re.compile(
    r"\s*(?:[.,:]\d|%|天|日|号|月|年|周|小时|钟|分钟|秒|块|元|次|个|笔|张|位|件|单|条|遍|"
    r"(?:days?|hours?|hrs?|mins?|minutes?|weeks?|months?|years?|times?|dollars?|yuan|rmb|usd|euros?|cards?|"
    r"orders?|payments?|am|pm)\b)",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^[\s,，.。!！:：;；~～、/\-—–]+")


def parse_rating(text: str) -> tuple[int, str] | None:
    """``(score, comment)`` when the message reads as a 1–5 rating, else None.

    Accepted: ``5``, full-width ``５``, ``5分``, ``5星``, ``五星``, ``五分``, ``5/5``, ``5 stars``,
    ``满分`` (5), and 1–5 star emoji (``⭐⭐⭐⭐⭐``, ``★★★☆☆`` = 3). Text after the score is
    the comment: ``4 还行，就是有点慢``. Not a rating: 0, 6 and more, ``4.5``, a quantity
    (``3天了还没到账``, ``5 dollars``), ``5分钟``, or a number inside a sentence.
    """
    original = text.strip()
    norm = unicodedata.normalize("NFKC", original)
    if not norm:
        return None
    stars = 0
    i = 0
    while i < len(norm) and (norm[i] in _STARS or norm[i] in "☆\ufe0f"):
        stars += norm[i] in _STARS
        i += 1
    if i:
        score, rest = stars, norm[i:]
    elif norm.startswith("满分"):
        score, rest = 5, norm[2:]
    else:
        match = _NUMBER.match(norm) or _CN_NUMBER.match(norm)
        if match is None:
            return None
        n = match.group("n")
        score = int(n) if n.isdigit() else _CN_DIGITS[n]
        rest = norm[match.end() :]
        if not match.group("unit"):
            if _QUANTITY.match(rest):
                return None
            if rest and not _SEPARATOR.match(rest):
                return None  # "5块" or "5x": the digit starts a word
    if not 1 <= score <= 5:
        return None
    comment = _SEPARATOR.sub("", _original_tail(original, len(norm) - len(rest))).strip()[:MAX_COMMENT]
    return score, comment


def _original_tail(original: str, consumed: int) -> str:
    """The customer's own text after the first ``consumed`` normalised characters (the
    comment keeps its full-width punctuation)."""
    total = 0
    for i, char in enumerate(original):
        if total >= consumed:
            return original[i:]
        total += len(unicodedata.normalize("NFKC", char))
    return ""


class Ratings:
    """The rating interceptor (asked before the FAQ), the resolve hook, timer handlers."""

    # Acts only on a resolved conversation (see ``Interceptor.needs_existing``).
    needs_existing = True

    def __init__(
        self,
        *,
        config: CsatConfig,
        store: Store,
        outbound: Outbound,
        adapter_for: Callable[[Channel, str], ChannelAdapter | None],
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.outbound = outbound
        self.adapter_for = adapter_for
        self.wake = wake
        self.clock = clock
        self.window_ms = int(config.window * 1000)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # the interceptor ---------------------------------------------------------------

    async def inspect(self, message: InboundMessage, prepared: Prepared) -> Verdict | None:
        conv = prepared.conversation
        if conv is None or conv.status != ConversationStatus.RESOLVED.value or not conv.resolved_at_ms:
            return None
        if not message.route or LOOP_GUARD_FLAG in message.flags:
            return None
        parsed = parse_rating(message.text or "")
        if parsed is None:
            return None
        now_ms = self._now_ms()
        resolved_ms = conv.resolved_at_ms
        if now_ms - resolved_ms > self.window_ms:
            return None
        existing = conv.attributes.get(RATING)
        if isinstance(existing, dict) and existing.get("for") == resolved_ms:
            return None  # rated already: a second reply is a message like any other
        messages = await self.store.get_messages(conv.id, limit=50)
        requested = any(
            m.direction == "outbound"
            and REQUEST_FLAG in m.flags
            and ms(m.received_at) >= resolved_ms
            and m.status not in FINAL_STATUSES
            for m in messages
        )
        if not requested:
            return None
        score, comment = parsed
        record = {
            "score": score,
            "comment": comment or None,
            "at": datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(),
            "for": resolved_ms,  # the resolve it rates
        }
        return Verdict(
            route=False, conversation_attributes={RATING: record}, timers=[("csat_rated", str(resolved_ms), 0)]
        )

    # the resolve hook and timers ---------------------------------------------------

    async def on_resolved(self, conv: Conversation, by: str) -> None:
        if by == SELF_SERVICE_RESOLVER:
            return  # a quiet self-service conversation: no person to rate
        now_ms = self._now_ms()
        await self.store.timer_set(timer_member("csat_request", conv.id, now_ms), now_ms)
        self.wake()

    async def on_request(self, timer: DueTimer, now_ms: int) -> int | None:
        """``csat_request|conversation|ms``: ask for the rating, once per resolve."""
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None or conv.status is not ConversationStatus.RESOLVED or conv.resolved_at is None:
            return None  # reopened meanwhile: the next resolve asks
        resolved_ms = ms(conv.resolved_at)
        messages = await self.store.get_messages(conv.id, limit=200)
        if any(REQUEST_FLAG in m.flags and ms(m.received_at) >= resolved_ms for m in messages):
            return None
        if any(m.status is DeliveryStatus.QUEUED for m in messages) and now_ms - resolved_ms < self.window_ms:
            return now_ms + QUEUED_WAIT_MS  # the last words (a case's resolution) go out before the request
        reason = self._skip_reason(conv, messages, now_ms - resolved_ms)
        if reason is None:
            prompt = in_language(self.config.prompt, _language(conv, messages))
            reason = await bot_reply(self.outbound, conv, bot=BOT, text=prompt, flags=[REQUEST_FLAG])
        counter = "csat_requested" if reason is None else "csat_skipped"
        if await self.store.add_counts(
            {counter: 1}, once=f"csat-request:{conv.id}:{resolved_ms}", once_ttl_ms=ONCE_TTL_MS
        ):
            metrics.CSAT_REQUESTS.labels(reason or "sent").inc()
            if reason is None:
                log.info("rating requested", extra={"conversation_id": conv.id, "channel": conv.channel.value})
            else:
                log.info("rating request skipped: %s", reason, extra={"conversation_id": conv.id, "reason": reason})
        return None

    def _skip_reason(self, conv: Conversation, messages: list[Any], since_resolve_ms: int) -> str | None:
        if since_resolve_ms > self.window_ms:
            return "late"
        if conv.first_response_at is None:
            return "no_agent_reply"
        last = last_customer_message(messages)
        if last is None:
            return "no_recipient"
        if LOOP_GUARD_FLAG in last.flags:
            return "loop_guard"
        adapter = self.adapter_for(conv.channel, conv.endpoint)
        if adapter is None or not adapter.can_send:
            return "channel_cannot_send"
        if last.sender.id and not auto_reply_allowed(adapter, last.sender.id.partition(":")[2], last.flags):
            return "auto_reply_limit"
        return None

    async def on_rated(self, timer: DueTimer, now_ms: int) -> int | None:
        """``csat_rated|conversation|resolved-ms``: count the rating once, say thanks."""
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None:
            return None
        rating = conv.attributes.get(RATING)
        if not isinstance(rating, dict) or str(rating.get("for")) != timer.argument:
            return None
        score = int(rating["score"])
        if self.config.thanks.strip():
            thanks = in_language(self.config.thanks, _language(conv, await self.store.get_messages(conv.id, limit=200)))
            refused = await bot_reply_once(
                self.store, self.outbound, conv, bot=BOT, text=thanks, tag=f"csat-thanks:{timer.argument}"
            )
            if refused is not None:
                log.info("rating thanks not sent (%s)", refused, extra={"conversation_id": conv.id})
        counts = {"csat_responses": 1, f"csat_score_{score}": 1, "csat_score_sum": score}
        if await self.store.add_counts(counts, once=f"csat-rated:{conv.id}:{timer.argument}", once_ttl_ms=ONCE_TTL_MS):
            metrics.CSAT_RATINGS.labels(str(score)).inc()
            log.info("rating recorded", extra={"conversation_id": conv.id, "score": score})
        return None


def _language(conv: Conversation, messages: list[Any]) -> str | None:
    """The customer's language, from their words before the rating (a bare "5" tells none)."""
    return customer_language(messages, conv.routing.language if conv.routing is not None else None)


def summary(stats: dict[str, int]) -> dict[str, Any]:
    """Rating figures from the cluster-wide counters: ``requested`` (rating requests sent),
    ``skipped`` (resolves that got none), ``responses`` (ratings recorded), the count per
    score, ``average`` = sum of scores ÷ responses, ``response_rate`` = responses ÷ requested."""
    responses = stats.get("csat_responses", 0)
    requested = stats.get("csat_requested", 0)
    return {
        "requested": requested,
        "skipped": stats.get("csat_skipped", 0),
        "responses": responses,
        "distribution": {str(s): stats.get(f"csat_score_{s}", 0) for s in range(1, 6)},
        "average": round(stats.get("csat_score_sum", 0) / responses, 3) if responses else None,
        "response_rate": round(responses / requested, 4) if requested else None,
    }


RATINGS = web.AppKey("ratings", Ratings)
