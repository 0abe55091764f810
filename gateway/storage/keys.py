"""The key layout of the store (the Lua scripts' ``lib.lua`` spells the same names).

``{…}`` marks a Redis Cluster hash tag: every key of one conversation (or contact) lands
in one slot, so the layout could later be spread over a cluster by conversation.
"""

from __future__ import annotations


class KeyLayout:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def cv(self, conversation_id: str, *rest: str) -> str:
        return ":".join((f"{self.prefix}:cv:{{{conversation_id}}}", *rest))

    def ct(self, contact_id: str, *rest: str) -> str:
        return ":".join((f"{self.prefix}:ct:{{{contact_id}}}", *rest))

    def listing_index(self, *, status: str | None, queue: str | None, contact_id: str | None) -> str:
        """The narrowest index for a listing; other filters are applied to what it yields."""
        if contact_id:
            return self.ct(contact_id, "convs")
        if queue:
            return self.k("idx", "q", queue)
        if status:
            return self.k("idx", "st", status)
        return self.k("idx", "all")
