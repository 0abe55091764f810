"""One visitor's websocket, from its ``hello`` until it closes.

The first frame is ``hello``: with a valid visitor token the visitor resumes (and gets
its history), without one a new visitor and token are minted, with a forged or foreign
token the socket is refused. Each visitor message is handed to the sink and only then
acknowledged with the widget's own message id; a resent message (same id) is a
duplicate in the store's dedupe and is acknowledged again without a second copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import WSMsgType

from gateway import metrics
from gateway.channels.base import InboundSink
from gateway.channels.webchat.config import WebchatConfig
from gateway.channels.webchat.frames import (
    Delivered,
    Frame,
    FrameError,
    Hello,
    Identify,
    Send,
    Simple,
    dumps,
    message_view,
    parse_frame,
)
from gateway.channels.webchat.ports import BusUnavailable, ReplyBus, VisitorHistory
from gateway.channels.webchat.signed import SignedIdentity
from gateway.channels.webchat.tokens import VisitorTokens
from gateway.channels.webchat.visitors import Visitors, VisitorSocket, endpoint_for
from gateway.model import (
    Channel,
    DeliveryStatus,
    Identity,
    IdentityKind,
    InboundMessage,
    ServiceUnavailable,
    StatusUpdate,
)
from gateway.redaction import mask_card_numbers

log = logging.getLogger(__name__)

RETRY_AFTER = 5.0
TYPING_EVERY = 2.0  # seconds: a visitor's typing signal goes on to the agents at most this often
MAX_ERRORS = 100  # error frames on one socket before it is closed as abusive
CLOSE_BAD_TOKEN = 4403
CLOSE_BAD_USER_JWT = 4401  # the widget shows the reason and does not reconnect
CLOSE_POLICY = 1008


class Session:
    """The chat on one socket: hello, then frames until it closes."""

    def __init__(
        self,
        sock: VisitorSocket,
        *,
        sink: InboundSink,
        tokens: VisitorTokens,
        history: VisitorHistory,
        bus: ReplyBus,
        settings: WebchatConfig,
        visitors: Visitors,
        signed: SignedIdentity | None = None,
        typing: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.typing = typing
        self.sock = sock
        self.sink = sink
        self.tokens = tokens
        self.history = history
        self.bus = bus
        self.settings = settings
        self.visitors = visitors
        self.signed = signed

    async def run(self) -> None:
        sock = self.sock
        hello = await self._await_hello()
        if hello is None or not await self._welcome(hello):
            return
        async for msg in sock.ws:
            if msg.type is WSMsgType.TEXT:
                await self._on_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await sock.refuse(FrameError("malformed", "frames must be JSON text"))
            else:
                break
            if sock.errors >= MAX_ERRORS:
                await sock.ws.close(code=CLOSE_POLICY, message=b"too many bad frames")
                break

    # hello -----------------------------------------------------------------------

    async def _await_hello(self) -> Hello | None:
        sock = self.sock
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.hello_timeout
        while sock.errors < MAX_ERRORS:
            try:
                msg = await sock.ws.receive(timeout=max(0.0, deadline - loop.time()))
            except TimeoutError:
                await sock.refuse(FrameError("hello_timeout", "send a hello frame first"))
                await sock.ws.close(code=CLOSE_POLICY, message=b"no hello")
                return None
            if msg.type is WSMsgType.BINARY:
                await sock.refuse(FrameError("malformed", "frames must be JSON text"))
                continue
            if msg.type is not WSMsgType.TEXT:
                return None
            frame = await self._parse(msg.data)
            if frame is None:
                continue
            if isinstance(frame, Hello):
                return frame
            await sock.refuse(FrameError("hello_first", "send a hello frame first", id=getattr(frame, "id", None)))
        await sock.ws.close(code=CLOSE_POLICY, message=b"too many bad frames")
        return None

    async def _welcome(self, hello: Hello) -> bool:
        sock = self.sock
        if hello.user_jwt is not None:
            try:
                if self.signed is None:
                    raise FrameError("invalid_user_jwt", "this gateway takes no signed identities (data-user-jwt)")
                sock.user = self.signed.read(hello.user_jwt)
            except FrameError as exc:
                log.info("web chat signed identity refused (%s)", exc.code)
                metrics.VERIFICATION_FAILURES.labels("bad_jwt").inc()
                await sock.refuse(exc)
                await sock.ws.close(code=CLOSE_BAD_USER_JWT, message=exc.code.encode())
                return False
            (visitor_id, token), new = self.tokens.for_user(sock.user.sub), False  # history from any device
        elif hello.token is not None:
            visitor_id = self.tokens.verify(hello.token)
            if visitor_id is None:
                await sock.refuse(FrameError("invalid_token", "this visitor token is not valid; start a new chat"))
                await sock.ws.close(code=CLOSE_BAD_TOKEN, message=b"invalid token")
                return False
            token, new = hello.token, False
        else:
            (visitor_id, token), new = self.tokens.mint(), True
        sock.visitor_id = visitor_id
        sock.name, sock.email, sock.language, sock.page = hello.name, hello.email, hello.language, hello.page
        sock.phone = hello.phone
        if sock.user is not None:
            sock.name, sock.email, sock.phone = sock.user.name or hello.name, None, None
        self.visitors.join(sock)
        limits = {
            "max_message_chars": self.settings.max_message_chars,
            "messages_per_second": self.settings.messages_per_second,
            "message_burst": self.settings.message_burst,
        }
        await sock.send(
            dumps({"type": "welcome", "visitor_id": visitor_id, "token": token, "new": new, "limits": limits})
        )
        if not new:
            await self._send_history()
        return True

    async def _send_history(self) -> None:
        sock = self.sock
        visitor = Identity(kind=IdentityKind.WEBCHAT, value=sock.visitor_id)
        try:
            messages = await self.history.history(visitor, limit=self.settings.history_limit)
        except ServiceUnavailable:
            await sock.refuse(FrameError("unavailable", "history is unavailable; retry", retry_after=RETRY_AFTER))
            return
        except Exception:
            log.exception("web chat history failed", extra={"visitor_id": sock.visitor_id})
            await sock.refuse(FrameError("internal", "history failed; retry", retry_after=RETRY_AFTER))
            return
        views = [message_view(m) for m in messages]
        for view in views:
            if view["from"] == "agent":
                sock.remember(view["id"])
        await sock.send(dumps({"type": "history", "messages": views}))

    # frames ----------------------------------------------------------------------

    async def _parse(self, data: str) -> Frame | None:
        """The frame, or None once the socket has been told (an error frame) what is wrong."""
        try:
            return parse_frame(data, max_bytes=self.settings.max_frame_bytes, max_chars=self.settings.max_message_chars)
        except FrameError as exc:
            await self.sock.refuse(exc)
        except Exception:  # parse_frame raises only FrameError; a bug there must not end the chat
            log.exception("web chat frame not parsed", extra={"visitor_id": self.sock.visitor_id})
            await self.sock.refuse(FrameError("malformed", "the frame could not be read"))
        return None

    async def _on_text(self, data: str) -> None:
        sock = self.sock
        frame = await self._parse(data)
        if frame is None:
            return
        wait = sock.frames.take()
        if wait:
            frame_id = frame.id if isinstance(frame, Send) else None
            await sock.refuse(FrameError("rate_limited", "too many frames", id=frame_id, retry_after=round(wait, 2)))
            return
        if isinstance(frame, Send):
            sock.typing_at = 0.0  # what they type after a message is news at once
            await self._accept(frame)
        elif isinstance(frame, Identify):
            sock.name = frame.name
            if sock.user is None:  # a signed-in user's address comes from the site
                sock.email, sock.phone = frame.email, frame.phone
            await sock.send(
                dumps(
                    {
                        "type": "identified",
                        "name": frame.name,
                        "email": frame.email.value if frame.email else None,
                        **({"phone": frame.phone.value} if frame.phone else {}),
                    }
                )
            )
        elif isinstance(frame, Delivered):
            await self._delivered(frame.id)
        elif isinstance(frame, Simple):
            if frame.type == "ping":
                await sock.send('{"type":"pong"}')
            elif frame.type == "history":
                await self._send_history()
            elif frame.type == "typing":
                await self._typing()
        elif isinstance(frame, Hello):
            await sock.refuse(FrameError("unexpected_hello", "this socket has already said hello"))

    async def _typing(self) -> None:
        """The visitor is typing: the agents hear it at most every ``TYPING_EVERY`` seconds
        per socket (the widget repeats it while the visitor types). Only after hello."""
        sock = self.sock
        now = time.monotonic()
        if self.typing is None or not sock.visitor_id or now - sock.typing_at < TYPING_EVERY:
            return
        sock.typing_at = now
        try:
            await self.typing(sock.visitor_id)
        except Exception:  # a lost signal costs nothing; the socket goes on
            log.warning("web chat typing signal not passed on", extra={"visitor_id": sock.visitor_id})

    # a visitor's message -----------------------------------------------------------

    def _inbound(self, frame: Send) -> InboundMessage:
        sock = self.sock
        return InboundMessage(
            channel=Channel.WEBCHAT,
            external_id=f"{sock.visitor_id}:{frame.id}",
            endpoint=endpoint_for(sock.visitor_id),
            sender=Identity(kind=IdentityKind.WEBCHAT, value=sock.visitor_id),
            sender_name=sock.name,
            signed_identities=sock.user.identities if sock.user else [],
            # A typed address is a claim on the visitor's own contact: it joins no one.
            contact_attributes={
                **({"claimed_email": sock.email.value} if sock.email else {}),
                **({"claimed_phone": sock.phone.value} if sock.phone else {}),
            },
            text=frame.text,
            language_hint=sock.language,
            meta={"page": sock.page} if sock.page else {},
        )

    async def _accept(self, frame: Send) -> None:
        sock = self.sock
        wait = self.visitors.bucket(sock.visitor_id).take()
        if wait:
            await sock.refuse(
                FrameError("rate_limited", "too many messages; wait a moment", id=frame.id, retry_after=round(wait, 2))
            )
            return
        message = self._inbound(frame)
        try:
            result = await self.sink.accept(message)
        except ServiceUnavailable:
            await sock.refuse(
                FrameError(
                    "unavailable", "not stored, storage is unavailable; retry", id=frame.id, retry_after=RETRY_AFTER
                )
            )
            return
        except Exception:
            log.exception("web chat message not accepted", extra={"visitor_id": sock.visitor_id})
            await sock.refuse(FrameError("internal", "not stored; retry", id=frame.id, retry_after=RETRY_AFTER))
            return
        await sock.send(
            dumps({"type": "ack", "id": frame.id, "message_id": result.message_id, "duplicate": result.duplicate})
        )
        if not result.duplicate:
            await self._echo(frame, result.message_id)

    async def _echo(self, frame: Send, message_id: str) -> None:
        """Show the visitor's message in their other tabs, wherever those are connected."""
        view = {
            "id": message_id,
            "from": "visitor",
            "text": mask_card_numbers(frame.text),
            "at": datetime.now(UTC).isoformat(),
            "client_id": frame.id,
        }
        try:
            await self.bus.publish(self.sock.visitor_id, dumps({"type": "message", "message": view}))
        except BusUnavailable:
            log.info("web chat echo not published", extra={"visitor_id": self.sock.visitor_id})

    async def _delivered(self, message_id: str) -> None:
        sock = self.sock
        if sock.sent_ids is None or message_id not in sock.sent_ids:
            return  # only messages this socket was given can be confirmed by it
        del sock.sent_ids[message_id]
        update = StatusUpdate(channel=Channel.WEBCHAT, external_id=message_id, status=DeliveryStatus.DELIVERED)
        try:
            await self.sink.accept_status(update)
        except Exception as exc:  # a lost receipt only leaves the status at "sent"
            log.info("web chat receipt not recorded: %s", type(exc).__name__, extra={"message_id": message_id})
