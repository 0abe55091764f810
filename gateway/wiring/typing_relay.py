"""Typing indicators both ways between the web chat widget and the console, across
gateway processes. A signal, not a change: nothing is stored, nothing is retried, a lost
one costs nothing.

* The visitor types: the widget sends ``{"type": "typing"}``; the process holding that
  socket publishes ``conversation.typing`` (``by: customer``) straight to
  ``gateway.events`` — not through the outbox, it is not a state change — so every
  process's console feed hands it to the consoles that may see the conversation.
* An agent types: the console calls ``POST /api/v1/conversations/{id}/typing``; the web
  chat adapter publishes a ``typing`` frame on the reply bus (Redis pub/sub between
  processes), which reaches the visitor's sockets wherever they are open.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import time

from gateway.channels.base import ChannelAdapter
from gateway.model import Channel, Conversation, Identity, IdentityKind
from gateway.routing.publisher import Outgoing, Publisher, PublishFailed
from gateway.routing.topology import EVENTS_EXCHANGE
from gateway.storage.base import Store
from gateway.wiring.services import Services

log = logging.getLogger(__name__)

TYPING_EVENT = "conversation.typing"


class TypingRelay:
    def __init__(self, store: Store, publisher: Publisher, services: Services) -> None:
        self.store = store
        self.publisher = publisher
        self.services = services

    def _published(self) -> bool:
        """``broker.events`` as the outbox relay reads it: ``all``, or patterns."""
        events = self.services.config.broker.events
        return events == "all" or any(fnmatch.fnmatchcase(TYPING_EVENT, p) for p in events)

    async def visitor_typing(self, visitor_id: str) -> None:
        if not self._published():
            return
        contact = await self.store.lookup_contact([Identity(kind=IdentityKind.WEBCHAT, value=visitor_id).key])
        if contact is None:
            return  # nothing written yet: no conversation for an agent to watch
        page = await self.store.list_conversations(contact_id=contact.id, limit=10)
        conv = next((c for c in page.conversations if c.channel is Channel.WEBCHAT and c.status != "resolved"), None)
        if conv is None:
            return
        now_ms = int(time.time() * 1000)
        body = {
            "type": TYPING_EVENT,
            "conversation_id": conv.id,
            "contact_id": contact.id,
            "by": "customer",
            "occurred_at_ms": now_ms,
        }
        try:
            await self.publisher.publish(
                Outgoing(
                    exchange=EVENTS_EXCHANGE,
                    routing_key=TYPING_EVENT,
                    body=json.dumps(body).encode(),
                    message_id=f"{TYPING_EVENT}:{conv.id}:{now_ms}",
                    type=TYPING_EVENT,
                )
            )
        except PublishFailed:
            log.info("typing signal not published (broker away)", extra={"conversation_id": conv.id})

    async def agent_typing(self, conv: Conversation, name: str | None) -> bool:
        """True when the customer's channel shows it (web chat); other channels have no
        typing indicator the gateway can drive."""
        if conv.channel is not Channel.WEBCHAT:
            return False
        adapter: ChannelAdapter | None = self.services.adapter_for(Channel.WEBCHAT, conv.endpoint)
        contact = await self.store.get_contact(conv.contact_id)
        if adapter is None or contact is None or not hasattr(adapter, "agent_typing"):
            return False
        for identity in contact.identities:
            if identity.kind is IdentityKind.WEBCHAT:
                await adapter.agent_typing(identity.value, name)
        return True


def install(services: Services) -> TypingRelay:
    """The relay, with the web chat adapter (if any) told where its visitors' typing goes."""
    relay = TypingRelay(services.store, services.publisher, services)
    for adapter in services.adapters:
        if hasattr(adapter, "on_visitor_typing"):
            adapter.on_visitor_typing = relay.visitor_typing
    return relay
