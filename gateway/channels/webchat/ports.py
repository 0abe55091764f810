"""What the web chat adapter needs from the rest of the gateway, as small protocols.

Adapters never import storage or one another's infrastructure; the composition root
hands these in (``gateway/wiring/webchat_history.py`` reads the store, ``gateway/wiring/webchat_bus.py``
carries replies between processes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gateway.model import Identity, Message

# (visitor id, frame JSON): hand a frame to this process's sockets of that visitor.
Deliver = Callable[[str, str], None]
# The bus lost frames (e.g. its connection dropped): sockets should reload their history.
Resync = Callable[[], None]


class VisitorHistory(Protocol):
    async def history(self, visitor: Identity, *, limit: int) -> list[Message]:
        """The visitor's own web chat messages (inbound and outbound, no notes), oldest
        first, at most ``limit``. Raises ``ServiceUnavailable`` when storage is down."""
        ...


class BusUnavailable(Exception):
    """The bus could not take the frame; the send is retried later."""


class ReplyBus(Protocol):
    """Frames for a visitor, delivered by every gateway process to its local sockets."""

    async def start(self, deliver: Deliver, resync: Resync) -> None: ...

    async def publish(self, visitor_id: str, frame: str) -> None:
        """Hand ``frame`` to every process; raises ``BusUnavailable`` when it cannot."""
        ...

    async def close(self) -> None: ...
