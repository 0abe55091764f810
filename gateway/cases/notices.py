"""The customer's messages about their case, sent by the ``case_notify`` timer that the
step itself wrote: through the outbound service like any reply (so on every channel, with
its messaging window and delivery tracking), in the agent's name when an agent took the
step. Each goes once (tagged, and recorded on the timeline as ``customer_notified`` or,
when the channel refused it, ``customer_not_notified`` with the reason). After the
resolution the conversation is resolved too, which asks for the rating.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.cases import timeline
from gateway.cases.context import SYSTEM, CaseContext
from gateway.core.outbound import ReplyRefused
from gateway.model import AUTO_FLAG, Conversation, ConversationStatus, Message
from gateway.storage.base import DueTimer
from gateway.storage.case_records import CaseRecord, CaseStepPlan

log = logging.getLogger(__name__)

BOT = "cases"  # the sender's name of automatic case messages
CASE_FLAG = "case"


def notice_tag(number: str, seq: int) -> str:
    return f"case-notice:{number}:{seq}"


class Notices:
    def __init__(self, ctx: CaseContext) -> None:
        self.ctx = ctx

    async def on_notify(self, timer: DueTimer, now_ms: int) -> int | None:
        """``case_notify|<conversation>|<number>:<seq>``: send entry ``seq``'s text."""
        number, _, seq_text = timer.argument.rpartition(":")
        seq = int(seq_text)
        case = await self.ctx.store.get_case(number)
        step = timeline.find_entry(case, seq) if case else None
        if case is None or step is None or not step.get("customer_text"):
            return None
        if any(e.get("ref") == seq and e.get("kind", "").startswith("customer_") for e in case.timeline):
            return None  # told already (or refused already)
        conv = await self.ctx.store.get_conversation(timer.conversation_id)
        if conv is None:
            await self._record(case, seq, now_ms, refused="no_conversation")
            return None
        sent = await self._send(conv, case, seq, step)
        if isinstance(sent, str):
            log.warning("case notice not sent: %s", sent, extra={"case": number, "conversation_id": conv.id})
            await self._record(case, seq, now_ms, refused=sent, channel=conv.channel.value)
        else:
            await self._record(case, seq, now_ms, message=sent, channel=conv.channel.value)
        if step.get("kind") == "resolved" and conv.status is not ConversationStatus.RESOLVED:
            await self.ctx.conversations.resolve(conv, by=str(step.get("by") or SYSTEM))
        return None

    async def _send(self, conv: Conversation, case: CaseRecord, seq: int, step: dict[str, Any]) -> Message | str:
        """The message sent (or found sent by an earlier run), or the refusal's code."""
        tag = notice_tag(case.number, seq)
        for message in await self.ctx.store.get_messages(conv.id, limit=200):
            if tag in message.flags:
                return message
        agent = bool(step.get("agent"))
        flags = [CASE_FLAG, f"case:{case.number}", tag]
        if step.get("auto"):
            flags.insert(0, AUTO_FLAG)
        try:
            return await self.ctx.outbound.reply(
                conv,
                agent=str(step.get("by")) if agent else BOT,
                text=str(step["customer_text"]),
                sender_kind="agent" if agent else "bot",
                flags=flags,
                claim=False,
            )
        except ReplyRefused as exc:
            return exc.code

    async def _record(
        self,
        case: CaseRecord,
        seq: int,
        now_ms: int,
        *,
        message: Message | None = None,
        refused: str | None = None,
        channel: str | None = None,
    ) -> None:
        kind = "customer_notified" if message is not None else "customer_not_notified"
        await self.ctx.store.case_step(
            CaseStepPlan(
                number=case.number,
                now_ms=now_ms,
                once=f"notice:{seq}",
                entry=timeline.entry(
                    kind,
                    at=now_ms,
                    by=SYSTEM,
                    ref=seq,
                    message_id=message.id if message else None,
                    conversation_id=message.conversation_id if message else None,
                    channel=channel,
                    reason=refused,
                    internal=True,
                ),
            )
        )
