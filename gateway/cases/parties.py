"""Merchants brought into a case: an email with the case number and summary, and their
replies on the case as internal messages.

Adding a party writes a ``case_party_mail`` timer. Its handler makes (once) a conversation
with the merchant — email, flagged ``case_party``, never offered to agents — and sends
the mail through the outbound service, so it goes through the email channel's relay with
delivery tracking. The mail's Reply-To carries the email channel's signed token for that
conversation and its Message-ID joins the thread, so the merchant's reply finds it (by
In-Reply-To, or by the token when their client drops the headers). The interceptor sees a
message on such a conversation and hands it to ``on_reply``, which copies it onto the
case's timeline as an internal entry — nothing of it goes to the customer.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from gateway import metrics
from gateway.cases import texts, timeline
from gateway.cases.context import SYSTEM, CaseContext
from gateway.cases.notices import BOT, CASE_FLAG
from gateway.core.intake_hooks import Verdict
from gateway.core.outbound import RECIPIENT, ReplyRefused
from gateway.model import Channel, Conversation, InboundMessage, new_id
from gateway.storage.base import DueTimer, encode_attrs
from gateway.storage.case_records import CaseRecord, CaseStepPlan, PartyConversationPlan

log = logging.getLogger(__name__)

PARTY_FLAG = "case_party"  # conversation flag: a case's conversation with a merchant
PARTY = "case_party"  # its attribute: {number, party}


def party_tag(number: str, party: int) -> str:
    return f"case-party:{number}:{party}"


class Parties:
    def __init__(self, ctx: CaseContext) -> None:
        self.ctx = ctx

    # the mail ---------------------------------------------------------------------

    async def on_mail(self, timer: DueTimer, now_ms: int) -> int | None:
        """``case_party_mail|<number>|<party>``: the merchant's conversation, and the mail."""
        number, index = timer.conversation_id, int(timer.argument)
        case = await self.ctx.store.get_case(number)
        if case is None or not 0 < index <= len(case.parties):
            return None
        if any(e.get("kind", "").startswith("party_mail") and e.get("party") == index for e in case.timeline):
            return None
        party = case.parties[index - 1]
        conv = await self._conversation(case, index, party, now_ms)
        if conv is None:
            return None
        message_id, refused = await self._send(case, index, party, conv)
        await self.ctx.store.case_step(
            CaseStepPlan(
                number=number,
                now_ms=now_ms,
                once=f"party-mail:{index}",
                entry=timeline.entry(
                    "party_mailed" if refused is None else "party_mail_failed",
                    at=now_ms,
                    by=SYSTEM,
                    party=index,
                    email=party.get("email"),
                    conversation_id=conv.id,
                    message_id=message_id,
                    reason=refused,
                    internal=True,
                ),
            )
        )
        return None

    async def _conversation(
        self, case: CaseRecord, index: int, party: dict[str, Any], now_ms: int
    ) -> Conversation | None:
        workflow = self.ctx.workflow()
        language = workflow.default_language
        category = workflow.categories.get(case.category)
        subject = texts.render(
            workflow.templates.merchant_subject,
            language,
            {"number": case.number, "category": category.name.pick(language) if category else case.category},
        )
        adapter = self.ctx.adapter_for(Channel.EMAIL)
        identity = f"email:{party['email']}"
        made = await self.ctx.store.party_conversation(
            PartyConversationPlan(
                number=case.number,
                party=index,
                identity=identity,
                name=str(party.get("name") or ""),
                endpoint=str(getattr(adapter, "address", "") or ""),
                subject=subject,
                new_contact_id=new_id("ct"),
                new_conversation_id=new_id("cv"),
                now_ms=now_ms,
                attributes=encode_attrs({PARTY: {"number": case.number, "party": index}, RECIPIENT: identity}),
                payload=timeline.payload("conversation.opened", None, channel="email", endpoint=identity),
            )
        )
        return await self.ctx.store.get_conversation(made[0]) if made else None

    async def _send(
        self, case: CaseRecord, index: int, party: dict[str, Any], conv: Conversation
    ) -> tuple[str | None, str | None]:
        """(the mail's message id, None), or (None, why it could not go)."""
        tag = party_tag(case.number, index)
        for message in await self.ctx.store.get_messages(conv.id, limit=50):
            if tag in message.flags:
                return message.id, None
        workflow = self.ctx.workflow()
        language = workflow.default_language
        category = workflow.categories.get(case.category)
        text = texts.render(
            workflow.templates.merchant,
            language,
            {
                "number": case.number,
                "category": category.name.pick(language) if category else case.category,
                "summary": case.summary,
                "name": str(party.get("name") or ""),
            },
        )
        try:
            message = await self.ctx.outbound.reply(
                conv, agent=BOT, text=text, sender_kind="bot", flags=[CASE_FLAG, f"case:{case.number}", tag]
            )
        except ReplyRefused as exc:
            log.warning("merchant mail not sent: %s", exc.code, extra={"case": case.number})
            return None, exc.code
        return message.id, None

    # their replies -----------------------------------------------------------------

    def verdict(self, message: InboundMessage, conv_flags: set[str], attributes: dict[str, Any]) -> Verdict | None:
        """A message on a party's conversation: kept from agents, copied to the case."""
        if PARTY_FLAG not in conv_flags:
            return None
        link = attributes.get(PARTY)
        if not isinstance(link, dict) or not link.get("number"):
            return None
        digest = hashlib.sha256(message.external_id.encode()).hexdigest()[:16]
        return Verdict(route=False, opens=False, timers=[(timeline.PARTY_REPLY, f"{link['number']}:{digest}", 0)])

    async def on_reply(self, timer: DueTimer, now_ms: int) -> int | None:
        """``case_party_reply|<party conversation>|<number>:<digest>``: every message of the
        party not on the case yet goes on it, internal."""
        number = timer.argument.partition(":")[0]
        conv = await self.ctx.store.get_conversation(timer.conversation_id)
        case = await self.ctx.store.get_case(number)
        if conv is None or case is None:
            return None
        link = conv.attributes.get(PARTY) or {}
        index = int(link.get("party") or 0)
        party = case.parties[index - 1] if 0 < index <= len(case.parties) else {}
        for message in await self.ctx.store.get_messages(conv.id, limit=200):
            if message.direction != "inbound":
                continue
            attachments = [a.name or a.content_type for a in message.attachments]
            result = await self.ctx.store.case_step(
                CaseStepPlan(
                    number=number,
                    now_ms=now_ms,
                    once=f"party-message:{message.id}",
                    entry=timeline.entry(
                        "party_reply",
                        at=int(message.received_at.timestamp() * 1000),
                        by=str(party.get("name") or message.sender.name or "merchant"),
                        party=index or None,
                        sender=message.sender.id,
                        note=message.text,
                        subject=message.subject,
                        attachments=attachments or None,
                        conversation_id=conv.id,
                        message_id=message.id,
                        internal=True,
                    ),
                    event={
                        "rk": "case.party_replied",
                        "payload": timeline.payload("case.party_replied", case, party=index, message_id=message.id),
                    },
                )
            )
            if result.ok:
                metrics.CASES.labels(case.category, "party_replied").inc()
                log.info("merchant reply on the case", extra={"case": number, "conversation_id": conv.id})
        return None
