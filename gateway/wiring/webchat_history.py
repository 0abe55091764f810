"""Read access to a web chat visitor's own conversation, for the widget's history.

The adapter may not import storage, so it receives this through the ``VisitorHistory``
protocol. Only conversations on the visitor's own endpoint count: when a visitor typed
an email address, their identity joined that email contact, whose other conversations
(mail, other visitors' chats) are none of this browser's business. Notes never leave.
"""

from __future__ import annotations

from gateway.channels.webchat import endpoint_for
from gateway.model import Channel, Direction, Identity, IdentityKind, Message
from gateway.storage.base import Store

PAGE = 50
MAX_PAGES = 4  # a contact with hundreds of conversations: the chat is among the recent ones


class StoreHistory:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def history(self, visitor: Identity, *, limit: int) -> list[Message]:
        if visitor.kind is not IdentityKind.WEBCHAT or limit <= 0:
            return []
        contact = await self.store.lookup_contact([visitor.key])
        if contact is None:
            return []
        endpoint = endpoint_for(visitor.value)
        own = []
        before = None
        for _ in range(MAX_PAGES):
            page = await self.store.list_conversations(contact_id=contact.id, limit=PAGE, before=before)
            own += [c for c in page.conversations if c.channel is Channel.WEBCHAT and c.endpoint == endpoint]
            if page.next_before is None:
                break
            before = page.next_before
        messages: list[Message] = []
        for conv in own:
            messages += [
                m
                for m in await self.store.get_messages(conv.id, limit=limit)
                if m.direction in (Direction.INBOUND, Direction.OUTBOUND)
            ]
        messages.sort(key=lambda m: (m.received_at, m.id))
        return messages[-limit:]
