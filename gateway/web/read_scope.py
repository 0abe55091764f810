"""What an agent may read (DESIGN §7.3, docs/security.md "Who reads what").

With ``auth.agent_read_scope: queues`` (the default) an agent reads a conversation only
when it is on a queue whose skill levels they meet (or on none, as claims allow), is
assigned to them, or they took part in it (held it once or wrote in it); its contact only
through such a conversation. Ops read everything. ``all`` lets every agent read everything, as
before this option existed. A conversation out of scope reads as absent (``404``): its
existence is not revealed either.

Every agent action on a conversation or contact (claim, reply or note, transfer, resolve,
pending, verify, typing, contact merge, cases) goes through the same scope first, so what an
agent cannot read they cannot act on either: the same ``404`` (docs/security.md lists every
route and its rule).
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import RequestRejected
from gateway.model import Contact, Conversation
from gateway.storage.base import Store
from gateway.web.auth import Principal
from gateway.wiring.services import SERVICES


def agent_reads_all(request: web.Request) -> bool:
    return request.app[SERVICES].config.auth.agent_read_scope == "all"


def may_read(principal: Principal, conv: Conversation, agent_queues: list[str], *, read_all: bool) -> bool:
    # Listings and search apply the same rule inside the store (``readable`` in
    # gateway/storage/lua/search.lua): change both together.
    if principal.role == "ops" or read_all:
        return True
    agent = principal.agent
    if not agent:
        return False
    if conv.assignee == agent or agent in conv.participants:
        return True
    # On no queue (never offered: a case's merchant thread, a bot-only chat) it is anyone's,
    # as for claims (``claim.lua``).
    return not conv.queue or conv.queue in agent_queues


class ReadScope:
    """One request's scope: ``allows(conv)`` for each conversation it would show."""

    def __init__(self, request: web.Request, principal: Principal) -> None:
        self.principal = principal
        self.read_all = principal.role == "ops" or agent_reads_all(request)
        router = request.app[SERVICES].router()
        self.queues = [] if self.read_all or not principal.agent else router.agent_queues(principal.agent)

    @property
    def reader(self) -> str | None:
        """For a store query (``ConversationQuery.reader``): None reads all, "" nothing."""
        return None if self.read_all else (self.principal.agent or "")

    def allows(self, conv: Conversation) -> bool:
        return may_read(self.principal, conv, self.queues, read_all=self.read_all)

    def require(self, conv: Conversation | None) -> Conversation:
        """``conv`` when it may be read; 404 as for a conversation that does not exist."""
        if conv is None or not self.allows(conv):
            raise RequestRejected(404, "not_found", "no such conversation")
        return conv

    async def require_contact(self, store: Store, contact_id: str) -> tuple[Contact, list[Conversation]]:
        """The contact with its conversations in scope; 404 as for a contact that does not
        exist when there is none (an agent reaches a contact only through a conversation)."""
        contact = await store.get_contact(contact_id)
        if contact is None:
            raise RequestRejected(404, "not_found", "no such contact")
        page = await store.list_conversations(contact_id=contact.id, limit=200)
        shown = [c for c in page.conversations if self.allows(c)]
        if not shown and not self.read_all and contact.merged_into:
            # Merged away, its conversations moved: read through the contact that has them.
            page = await store.list_conversations(contact_id=contact.merged_into, limit=200)
            if any(self.allows(c) for c in page.conversations):
                return contact, []
        if not shown and not self.read_all:
            raise RequestRejected(404, "not_found", "no such contact")
        return contact, shown
