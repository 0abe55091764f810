"""Verification codes: an agent asks for one, it goes to the contact's phone by SMS or to
their mailbox (on another channel than the conversation's where the contact has one), and
the customer answers on any of their channels or in the web chat.

* ``request``: rate limits (per contact, per destination), the new code's salted hash with
  its expiry timer and ``verification.requested`` (one atomic step, refused within
  ``resend_after``), then the message through the outbound service. What is stored and
  published is a placeholder naming where it went; the digits are filled in by ``expand``
  only when the adapter sends it.
* ``inspect`` (an ingest interceptor, asked first): a short message holding a code from a
  contact with a code pending, on any of their channels but the feedback form, is checked,
  counted once (``verify_settle.lua``: verified, wrong, locked after ``max_attempts``,
  expired) and stored as a placeholder saying which; it is not offered to agents, and the
  customer is told the outcome. With no code pending, it is an ordinary message.
* ``on_expire``: the code's time ran out unanswered: failed as expired.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway import metrics
from gateway.config import VerificationConfig
from gateway.core.intake_hooks import Verdict
from gateway.core.outbound import Outbound, ReplyRefused
from gateway.core.outbox_payloads import payload
from gateway.errors import RequestRejected
from gateway.model import (
    AUTO_FLAG,
    LOOP_GUARD_FLAG,
    Channel,
    Contact,
    Conversation,
    Identity,
    IdentityKind,
    InboundMessage,
    Message,
)
from gateway.storage.base import DueTimer, Prepared, Store, timer_member
from gateway.storage.verification_records import SettlePlan, VerificationPlan, VerificationRecord
from gateway.verification import codes

log = logging.getLogger(__name__)

BOT = "verification"  # the sender's name of the gateway's verification messages
CODE_FLAG = "verification-code"  # the message carrying a code: its text is filled in when sent
NOTICE_FLAG = "verification"
EXPIRE = "verification_expire"
NOTICE = "verification_notice"
META = "verification"

CHANNEL_OF = {"sms": Channel.SMS, "email": Channel.EMAIL}
KIND_OF = {"sms": IdentityKind.PHONE, "email": IdentityKind.EMAIL}
SUBJECT = "验证码 / Verification code"

CODE_TEXT = (
    "您的验证码是 {code}，{minutes} 分钟内有效。请勿告诉任何人，客服不会向您索要。\n"
    "Your verification code is {code}. It is valid for {minutes} minutes. Never share it: "
    "we will only ask you to type it into this conversation."
)
# What the customer hears after answering, by outcome.
NOTICES = {
    "verified": "验证成功，谢谢。/ Thank you, you are verified.",
    "wrong": "验证码不正确，还可以再试 {left} 次。/ That code is not right; {left} attempts left.",
    "locked": "验证码错误次数过多，已失效。请向客服索取新的验证码。/ Too many wrong codes: this one is locked. "
    "Ask us for a new code.",
    "expired": "验证码已过期。请向客服索取新的验证码。/ That code has expired. Ask us for a new one.",
}
# What agents (and the stored history) see instead of the customer's answer.
PLACEHOLDERS = {
    "verified": "[verification code: correct]",
    "wrong": "[verification code: wrong, {left} attempts left]",
    "locked": "[verification code: wrong, locked after too many attempts]",
    "expired": "[verification code: expired]",
    # The pending code was settled by another answer in the moment between look and count.
    "stale": "[verification code: no code pending]",
}


class VerificationRefused(RequestRejected):
    def __init__(self, status: int, code: str, message: str, *, retry_after_ms: int = 0) -> None:
        super().__init__(status, code, message)
        if retry_after_ms:
            self.headers = {"Retry-After": str(max(1, -(-retry_after_ms // 1000)))}


@dataclass(slots=True)
class Sent:
    via: str
    to: str
    expires_ms: int


def verification_view(record: VerificationRecord | None, now_ms: int) -> dict[str, object]:
    """The conversation's ``verification`` field: state, method and times."""
    if record is None:
        return {"state": "none", "method": None, "verified_at": None, "expires_at": None}
    state = record.state_at(now_ms)
    until = record.valid_until_ms if record.state == "verified" else record.expires_ms
    out: dict[str, object] = {
        "state": state,
        "method": record.method or None,
        "verified_at": _iso(record.verified_ms) if record.state == "verified" else None,
        "expires_at": _iso(until),
    }
    if record.method != "jwt":
        out.update(via=record.via or None, to=record.to or None)
    if record.state == "pending":
        out["attempts_left"] = max(0, record.max_attempts - record.attempts)
    if record.reason:
        out["reason"] = record.reason
    return out


def _iso(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms else None


class Verifier:
    # Acts only on a known contact (see ``Interceptor.needs_existing``).
    needs_existing = True

    def __init__(
        self,
        *,
        config: VerificationConfig,
        store: Store,
        outbound: Outbound,
        secret: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.outbound = outbound
        self.secret = secret
        self.clock = clock
        # Called with (contact id, outcome) when a verification ends: verified, locked, expired.
        self.on_settled: list[Callable[[str, str], Awaitable[None]]] = []

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # asking for a code --------------------------------------------------------------

    def _destination(self, contact: Contact, conv: Conversation, via: str | None) -> tuple[str, Identity]:
        """The method and address to send to: ``via`` if given, else the configured order
        with another channel than the conversation's first."""
        methods = [via] if via else list(self.config.via)
        if via is None:
            methods.sort(key=lambda m: CHANNEL_OF[m] is conv.channel)
        for method in methods:
            adapter = self.outbound.adapter_for(CHANNEL_OF[method], "")
            if adapter is None or not adapter.can_send:
                continue
            for identity in contact.identities:
                if identity.kind is KIND_OF[method]:
                    return method, identity
        if via is not None:
            raise VerificationRefused(
                409,
                "no_destination",
                f"the contact has no {KIND_OF[via].value} the gateway can send a code to by {via}",
            )
        raise VerificationRefused(
            409, "no_destination", "the contact has no phone number or email address the gateway can send a code to"
        )

    async def request(self, conv: Conversation, *, via: str | None, by: str) -> Sent:
        if via is not None and via not in self.config.via:
            raise VerificationRefused(422, "invalid", f"via must be one of {list(self.config.via)}")
        contact = await self.store.get_contact(conv.contact_id)
        if contact is None:
            raise VerificationRefused(404, "not_found", "the conversation's contact is gone")
        method, identity = self._destination(contact, conv, via)
        now_ms = self.now_ms()
        record = await self.store.get_verification(contact.id)
        resend_ms = int(self.config.resend_after * 1000)
        if record is not None and record.sent_ms and now_ms - record.sent_ms < resend_ms:
            raise self._too_soon(record.sent_ms + resend_ms - now_ms)
        window_ms = int(self.config.send_window * 1000)
        for key, limit in (
            (f"verify:ct:{contact.id}", self.config.max_sends_per_contact),
            (f"verify:to:{identity.key}", self.config.max_sends_per_destination),
        ):
            wait_ms = await self.store.rate_hit(key, limit=limit, window_ms=window_ms)
            if wait_ms:
                metrics.VERIFICATION_FAILURES.labels("rate_limited").inc()
                raise VerificationRefused(
                    429, "rate_limited", "too many codes sent to this customer; try again later", retry_after_ms=wait_ms
                )
        nonce, salt = codes.new_nonce(), codes.new_salt()
        code = codes.code_for(self.secret, nonce, self.config.code_length)  # for its hash; kept nowhere
        masked = codes.mask_phone(identity.value) if method == "sms" else codes.mask_email(identity.value)
        expires_ms = now_ms + int(self.config.ttl * 1000)
        wait_ms = await self.store.verification_request(
            VerificationPlan(
                contact=contact.id,
                conversation=conv.id,
                by=by,
                via=method,
                to=masked,
                destination=identity.key,
                nonce=nonce,
                salt=salt,
                hash=codes.code_hash(self.secret, salt, code),
                max_attempts=self.config.max_attempts,
                now_ms=now_ms,
                expires_ms=expires_ms,
                resend_after_ms=resend_ms,
                keep_ms=int(self.config.keep * 1000),
                timer=timer_member(EXPIRE, conv.id, f"{contact.id}:{nonce}"),
                payload=payload("verification.requested", via=method, to=masked, requested_by=by),
            )
        )
        if wait_ms:
            raise self._too_soon(wait_ms)
        try:
            await self.outbound.reply(
                conv,
                agent=BOT,
                text=f"[verification code sent by {method.upper() if method == 'sms' else method} to {masked}]",
                sender_kind="bot",
                flags=[AUTO_FLAG, CODE_FLAG],
                claim=False,
                deliver=(CHANNEL_OF[method], identity),
                meta={META: {"contact": contact.id, "nonce": nonce}},
            )
        except ReplyRefused as exc:
            raise VerificationRefused(exc.status, exc.code, exc.message) from None
        metrics.VERIFICATIONS.labels("requested").inc()
        log.info("verification code requested", extra={"conversation_id": conv.id, "via": method, "by": by})
        return Sent(via=method, to=masked, expires_ms=expires_ms)

    def _too_soon(self, wait_ms: int) -> VerificationRefused:
        seconds = max(1, -(-wait_ms // 1000))
        return VerificationRefused(
            429,
            "resend_too_soon",
            f"a code was sent moments ago; a new one may go in {seconds} s",
            retry_after_ms=wait_ms,
        )

    async def expand(self, message: Message) -> tuple[Message | None, str]:
        """The code message's real text, rebuilt at sending time (outbound expander)."""
        info = message.meta.get(META) or {}
        record = await self.store.get_verification(str(info.get("contact", "")))
        if (
            record is None
            or record.nonce != info.get("nonce")
            or record.state_at(self.now_ms()) != "pending"
            or not record.hash
        ):
            return None, "the code was replaced, answered or expired before it could be sent"
        code = codes.code_for(self.secret, record.nonce, self.config.code_length)
        if not codes.matches(self.secret, record.salt, record.hash, code):
            return None, "the code cannot be rebuilt here: verification.secret differs between gateway processes"
        minutes = max(1, round(self.config.ttl / 60))
        text = CODE_TEXT.format(code=code, minutes=minutes)
        return message.model_copy(update={"text": text, "subject": SUBJECT}), ""

    # the customer's answer ----------------------------------------------------------

    async def inspect(self, message: InboundMessage, prepared: Prepared) -> Verdict | None:
        if not prepared.contact_id:
            return None
        record = await self.store.get_verification(prepared.contact_id)
        sent = self._recent_code(record)
        if record is None or sent is None:
            return None
        # The code as sent: cut out wherever it stands (a reply quoting the code mail).
        candidate = codes.code_in(message.text, self.config.code_length)
        # Answers come only from the customer's own channels: the feedback form is
        # unauthenticated (anyone may name anyone's address), so its messages never count.
        if candidate is None or LOOP_GUARD_FLAG in message.flags or message.channel is Channel.FORM:
            return Verdict(passes=True, redact=[sent])
        if record.state != "pending":
            # No code pending: digits that are not an answer (an order number) go on as
            # written, to agents; only the code that was sent, typed late, is cut out.
            return Verdict(passes=True, redact=[sent] if hmac.compare_digest(candidate, sent) else [])
        conversation = prepared.conversation.id if prepared.conversation else ""
        ok = codes.matches(self.secret, record.salt, record.hash, candidate)
        outcome, left = await self.settle(prepared.contact_id, record.nonce, "ok" if ok else "wrong", conversation)
        placeholder = PLACEHOLDERS[outcome].format(left=left)
        timers = [(NOTICE, f"{outcome}:{left}:{message.external_id[-64:]}", 0.0)] if outcome in NOTICES else []
        return Verdict(route=False, opens=False, text=placeholder, redact=[candidate, sent], timers=timers)

    def _recent_code(self, record: VerificationRecord | None) -> str | None:
        """The code last sent to the contact while it is pending or recent (twice its ttl);
        None when there is none or it is long past (digits then are no answer)."""
        if record is None or not record.sent_ms or not record.nonce:
            return None
        if record.state != "pending" and self.now_ms() - record.sent_ms > self.config.ttl * 2000:
            return None
        return codes.code_for(self.secret, record.nonce, self.config.code_length)

    async def codes_to_cut(self, contact_id: str) -> list[str]:
        """The codes to cut out of what the contact writes outside an answer (an edit of a
        stored message): the pending or recent one, as ``inspect`` cuts it."""
        sent = self._recent_code(await self.store.get_verification(contact_id))
        return [sent] if sent else []

    async def settle(self, contact_id: str, nonce: str, outcome: str, conversation: str) -> tuple[str, int]:
        result, left = await self.store.verification_settle(
            SettlePlan(
                contact=contact_id,
                nonce=nonce,
                outcome=outcome,
                conversation=conversation,
                now_ms=self.now_ms(),
                valid_for_ms=int(self.config.valid_for * 1000),
                keep_ms=int(self.config.keep * 1000),
                succeeded=payload("verification.succeeded"),
                failed=payload("verification.failed"),
            )
        )
        if result == "verified":
            metrics.VERIFICATIONS.labels("succeeded").inc()
        elif result in ("wrong", "locked", "expired"):
            metrics.VERIFICATION_FAILURES.labels({"wrong": "wrong_code"}.get(result, result)).inc()
            if result != "wrong":
                metrics.VERIFICATIONS.labels("failed").inc()
        log.info("verification " + result, extra={"contact_id": contact_id, "conversation_id": conversation or None})
        if result in ("verified", "locked", "expired"):
            for listener in self.on_settled:
                await listener(contact_id, result)
        return result, left

    async def signed_in(self, contact_id: str, conversation_id: str) -> None:
        """A message under a signed web chat identity: the contact is verified by ``jwt``
        (once per ``valid_for``, not per message)."""
        record = await self.store.get_verification(contact_id)
        now_ms = self.now_ms()
        if record is not None and record.state_at(now_ms) == "verified":
            return  # verified already (by this signature, or a code meanwhile)
        await self.settle(contact_id, f"jwt-{now_ms}", "jwt", conversation_id)

    async def verified(self, contact_id: str) -> bool:
        """Whether the contact is verified now (the rules' ``verified`` condition)."""
        record = await self.store.get_verification(contact_id)
        return record is not None and record.state_at(self.now_ms()) == "verified"

    # timers ------------------------------------------------------------------------

    async def on_expire(self, timer: DueTimer, now_ms: int) -> int | None:
        """``verification_expire|<conversation>|<contact>:<nonce>``."""
        contact_id, _, nonce = timer.argument.partition(":")
        await self.settle(contact_id, nonce, "expire", timer.conversation_id)
        return None

    async def on_notice(self, timer: DueTimer, now_ms: int) -> int | None:
        """``verification_notice|<conversation>|<outcome>:<left>:<answer id>``: tell the
        customer what became of their answer, once."""
        outcome, left, answer = timer.argument.split(":", 2)
        conv = await self.store.get_conversation(timer.conversation_id)
        if conv is None or outcome not in NOTICES:
            return None
        tag = f"verification-notice:{answer}"
        if any(tag in m.flags for m in await self.store.get_messages(conv.id, limit=200)):
            return None
        try:
            await self.outbound.reply(
                conv,
                agent=BOT,
                text=NOTICES[outcome].format(left=left),
                sender_kind="bot",
                flags=[AUTO_FLAG, NOTICE_FLAG, tag],
                claim=False,
            )
        except ReplyRefused as exc:
            log.info("verification notice not sent (%s)", exc.code, extra={"conversation_id": conv.id})
        return None
