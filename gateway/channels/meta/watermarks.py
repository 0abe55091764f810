"""Messenger's delivery and read watermarks → status updates for the replies they cover.

A Messenger ``read`` event never names a message: it carries ``watermark`` (ms epoch),
"everything sent to this customer up to this time was read". ``delivery`` events carry
the same watermark, sometimes with ``mids``. A watermark therefore covers every reply of
ours to that customer (``sender.id``) from that page (``recipient.id``) sent at or
before it.

Finding them reads a bounded amount, whatever the customer's history:

* the customer's contact (by the identity ``messenger:<PSID>``), the most recent
  ``LISTED_CONVERSATIONS`` of its conversations, of those at most
  ``SCANNED_CONVERSATIONS`` on this channel and page (the latest first);
* of each, the last ``SCANNED_MESSAGES`` messages: outbound ones with a provider id
  (``external_id``), written at or before the watermark and not already at the
  watermark's status or further. Our time of writing stands for Meta's time of sending
  (a reply goes out as soon as it is written; one sent later has no provider id until then).

Each one found becomes an ordinary ``StatusUpdate`` by provider id, applied through the
sink like WhatsApp statuses and ``mids``: the store moves it forward only, atomically, and
writes one ``message.status`` event per change — so the same watermark arriving twice,
even at the same time, changes each message once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from gateway.model import (
    Channel,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Identity,
    Message,
    StatusUpdate,
    status_moves_forward,
)

LISTED_CONVERSATIONS = 10
SCANNED_CONVERSATIONS = 2
SCANNED_MESSAGES = 50
# The store forgets provider ids after 30 days; a status for an older reply would only be
# parked as an "early" status for an id that never comes.
OLDEST_COVERED = timedelta(days=28)


@dataclass(frozen=True, slots=True)
class Watermark:
    """``status`` for every reply to ``customer`` from ``endpoint`` sent up to ``until``."""

    channel: Channel
    customer: Identity
    endpoint: str  # the page / IG account (``recipient.id``); "" when not given
    status: DeliveryStatus  # delivered or read
    until: datetime
    at: datetime | None = None  # when Meta reported it


class PageListing(Protocol):
    conversations: list[Conversation]


@runtime_checkable
class ConversationReader(Protocol):
    """The read side a watermark needs; the gateway's ``Store`` has it."""

    async def lookup_contact(self, identity_keys: list[str]) -> Contact | None: ...

    async def list_conversations(self, *, contact_id: str | None = None, limit: int = 50) -> PageListing: ...

    async def get_messages(self, conversation_id: str, *, limit: int = 500) -> list[Message]: ...


async def covered_updates(reader: ConversationReader, mark: Watermark) -> list[StatusUpdate]:
    """The status updates ``mark`` implies for our replies; empty when none is behind."""
    contact = await reader.lookup_contact([mark.customer.key])
    if contact is None:
        return []
    listing = await reader.list_conversations(contact_id=contact.id, limit=LISTED_CONVERSATIONS)
    conversations = [c for c in listing.conversations if _same_thread(c, mark)][:SCANNED_CONVERSATIONS]
    updates: list[StatusUpdate] = []
    for conversation in conversations:
        messages = await reader.get_messages(conversation.id, limit=SCANNED_MESSAGES)
        updates += _covered(messages, mark)
    return updates


def _same_thread(conversation: Conversation, mark: Watermark) -> bool:
    if conversation.channel is not mark.channel:
        return False
    return not (mark.endpoint and conversation.endpoint) or conversation.endpoint == mark.endpoint


def _covered(messages: list[Message], mark: Watermark) -> list[StatusUpdate]:
    """``messages`` oldest first. A reply goes to the sender of the customer message before
    it (contacts can be merged), so replies following someone else's message are not ours
    to mark."""
    oldest = mark.until - OLDEST_COVERED
    addressee: str | None = None
    updates: list[StatusUpdate] = []
    for message in messages:
        if message.direction == Direction.INBOUND:
            addressee = message.sender.id or addressee
            continue
        if message.direction != Direction.OUTBOUND or not message.external_id or message.status is None:
            continue
        if addressee is not None and addressee != mark.customer.key:
            continue
        if not oldest <= message.received_at <= mark.until:
            continue
        if not status_moves_forward(message.status, mark.status):
            continue
        updates.append(
            StatusUpdate(channel=mark.channel, external_id=message.external_id, status=mark.status, at=mark.at)
        )
    return updates
