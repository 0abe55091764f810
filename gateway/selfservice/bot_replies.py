"""What ratings and self-service share: the bot's automatic replies, tagged so that a timer
run again after a crash sends nothing twice, and when an automatic message may go at all."""

from __future__ import annotations

from datetime import datetime

from gateway.channels.base import ChannelAdapter
from gateway.core.outbound import Outbound, ReplyRefused
from gateway.model import AUTO_FLAG, Conversation, Message
from gateway.storage.base import Store

SELF_SERVICE_RESOLVER = "self-service"  # who resolves a quiet self-service conversation (no rating request then)
# "Counted already" markers outlive any rerun of a timer and the idle period by far.
ONCE_TTL_MS = 8 * 86400 * 1000


def ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def last_customer_message(messages: list[Message]) -> Message | None:
    return next((m for m in reversed(messages) if m.direction == "inbound"), None)


def auto_reply_allowed(adapter: ChannelAdapter | None, address: str, inbound_flags: list[str]) -> bool:
    """Whether the channel may send an automatic message to ``address`` now (email
    limits them per address and never answers machines; other channels always may)."""
    if adapter is None or not adapter.can_send:
        return False
    check = getattr(adapter, "auto_reply_allowed", None)
    return check is None or bool(check(address, inbound_flags))


def has_sent(messages: list[Message], tag: str) -> bool:
    """Whether a message tagged ``tag`` is in the conversation already."""
    return any(tag in m.flags for m in messages)


async def bot_reply(outbound: Outbound, conv: Conversation, *, bot: str, text: str, flags: list[str]) -> str | None:
    """Send ``text`` as the bot named ``bot``, flagged automatic and with ``flags``; the
    code of the refusal when the gateway refuses it (window closed, channel cannot send …)."""
    try:
        await outbound.reply(conv, agent=bot, text=text, sender_kind="bot", flags=[AUTO_FLAG, *flags])
    except ReplyRefused as exc:
        return exc.code
    return None


async def bot_reply_once(
    store: Store, outbound: Outbound, conv: Conversation, *, bot: str, text: str, tag: str
) -> str | None:
    """``bot_reply`` tagged ``tag``, unless a message with that tag went out already."""
    if has_sent(await store.get_messages(conv.id, limit=200), tag):
        return None
    return await bot_reply(outbound, conv, bot=bot, text=text, flags=[tag])
