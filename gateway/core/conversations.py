"""Conversation lifecycle acts that are not routing: resolve, pending, contact merge."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from gateway.core.outbox_payloads import payload
from gateway.model import Conversation
from gateway.storage.base import Outcome, Store

log = logging.getLogger(__name__)

# Called after a conversation is resolved (the rating request hooks in here).
ResolvedHook = Callable[[Conversation, str], Awaitable[None]]


class Conversations:
    def __init__(self, *, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.on_resolved: list[ResolvedHook] = []

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def resolve(self, conv: Conversation, *, by: str) -> Outcome:
        result = await self.store.resolve(
            conv.id, by=by, now_ms=self._now_ms(), payload=payload("conversation.resolved", channel=conv.channel.value)
        )
        if result.ok:
            log.info("conversation resolved", extra={"conversation_id": conv.id, "by": by})
            for hook in self.on_resolved:
                try:
                    await hook(conv, by)
                except Exception:
                    log.exception("resolved hook failed", extra={"conversation_id": conv.id})
        return result

    async def set_pending(self, conv: Conversation) -> Outcome:
        return await self.store.set_pending(conv.id, now_ms=self._now_ms())

    async def merge(self, keep: str, other: str, *, by: str) -> Outcome:
        result = await self.store.merge_contacts(
            keep, other, by=by, now_ms=self._now_ms(), payload=payload("contact.merged")
        )
        if result.ok:
            log.info("contacts merged", extra={"contact_id": keep, "merged_contact_id": other, "by": by})
        return result
