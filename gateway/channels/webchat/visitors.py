"""A visitor's open websockets: each socket and what the visitor told on it (``VisitorSocket``),
this process's sockets of each visitor and their message allowance (``Visitors``), and the
conversation endpoint of a visitor (``endpoint_for``)."""

from __future__ import annotations

import contextlib

import aiohttp
from aiohttp import web

from gateway.channels.webchat.config import WebchatConfig
from gateway.channels.webchat.frames import FrameError
from gateway.channels.webchat.limits import TokenBucket
from gateway.channels.webchat.signed import SignedUser
from gateway.model import Identity

# Every frame counts against its socket (pings, history requests, garbage alike).
FRAMES_PER_SECOND = 10.0
FRAME_BURST = 40
MAX_REMEMBERED = 200  # agent message ids per socket that may be confirmed as delivered


def endpoint_for(visitor_id: str) -> str:
    """The conversation endpoint of a visitor: one conversation thread per visitor."""
    return f"webchat:{visitor_id}"


class VisitorSocket:
    """One open websocket and what the visitor told us on it."""

    __slots__ = (
        "address",
        "email",
        "errors",
        "frames",
        "language",
        "name",
        "page",
        "phone",
        "sent_ids",
        "typing_at",
        "user",
        "visitor_id",
        "ws",
    )

    def __init__(self, ws: web.WebSocketResponse, address: str) -> None:
        self.ws = ws
        self.address = address
        self.visitor_id = ""
        self.name: str | None = None
        self.email: Identity | None = None  # typed by the visitor: a claim, never proof
        self.phone: Identity | None = None  # the same
        self.user: SignedUser | None = None  # the site's signed identity of its user
        self.language: str | None = None
        self.page: str | None = None
        self.frames = TokenBucket(FRAMES_PER_SECOND, FRAME_BURST)
        self.errors = 0
        self.sent_ids: dict[str, None] | None = None  # ordered, bounded; made on first use
        self.typing_at = 0.0  # when this socket's "typing" last went on to the agents

    def remember(self, message_id: str) -> None:
        if self.sent_ids is None:
            self.sent_ids = {}
        self.sent_ids[message_id] = None
        if len(self.sent_ids) > MAX_REMEMBERED:
            del self.sent_ids[next(iter(self.sent_ids))]

    async def send(self, frame: str) -> None:
        if self.ws.closed:
            return
        with contextlib.suppress(ConnectionError, aiohttp.ClientConnectionResetError, RuntimeError):
            await self.ws.send_str(frame)

    async def refuse(self, error: FrameError) -> None:
        self.errors += 1
        await self.send(error.frame())


class Visitors:
    """This process's sockets of each visitor, and each visitor's message allowance."""

    def __init__(self, settings: WebchatConfig) -> None:
        self._settings = settings
        self._sockets: dict[str, set[VisitorSocket]] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def join(self, sock: VisitorSocket) -> None:
        self._sockets.setdefault(sock.visitor_id, set()).add(sock)

    def leave(self, sock: VisitorSocket) -> None:
        sockets = self._sockets.get(sock.visitor_id)
        if sockets is None:
            return
        sockets.discard(sock)
        if not sockets:
            del self._sockets[sock.visitor_id]
            self._buckets.pop(sock.visitor_id, None)

    def sockets_of(self, visitor_id: str) -> list[VisitorSocket]:
        return list(self._sockets.get(visitor_id, ()))

    def every_socket(self) -> list[VisitorSocket]:
        return [sock for sockets in self._sockets.values() for sock in sockets]

    def bucket(self, visitor_id: str) -> TokenBucket:
        bucket = self._buckets.get(visitor_id)
        if bucket is None:
            bucket = self._buckets[visitor_id] = TokenBucket(
                self._settings.messages_per_second, self._settings.message_burst
            )
        return bucket
