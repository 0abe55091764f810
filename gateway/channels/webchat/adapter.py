"""The web chat channel: the widget's websocket, its script and a demo page.

``GET /webchat/ws`` checks ``Origin`` and the connections of the client address before
upgrading. The first frame is ``hello``: with a valid visitor token the visitor resumes
(and gets its history), without one a new visitor and token are minted, with a forged or
foreign token the socket is refused. Each visitor message is handed to the sink and only
then acknowledged with the widget's own message id; a resent message (same id) is a
duplicate in the store's dedupe and is acknowledged again without a second copy.

Each visitor gets a conversation of their own (endpoint ``webchat:<visitor id>``): an
email address typed into the widget is unverified, and while it links the visitor to
that email contact (so agents see one customer), it must never put the visitor into
someone else's conversation or history.

Agent replies go out through a ``ReplyBus`` so the gateway process that sends them need
not be the one holding the visitor's socket; every process hands the frames to its own
sockets of that visitor. Whatever a socket misses is in the history it loads on return.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from importlib import resources
from typing import Any, ClassVar

import aiohttp
from aiohttp import WSMsgType, web

from gateway.channels.base import ChannelAdapter, InboundSink, RequestRejected
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
from gateway.channels.webchat.limits import ConnectionCounter, OriginPolicy, TokenBucket, origin_of
from gateway.channels.webchat.ports import BusUnavailable, ReplyBus, VisitorHistory
from gateway.channels.webchat.tokens import VisitorTokens
from gateway.model import (
    Channel,
    DeliveryStatus,
    Identity,
    IdentityKind,
    InboundMessage,
    OutboundRequest,
    SendResult,
    ServiceUnavailable,
    StatusUpdate,
)
from gateway.redaction import mask_card_numbers

log = logging.getLogger(__name__)

WS_PATH = "/webchat/ws"
RETRY_AFTER = 5.0
# Every frame counts against its socket (pings, history requests, garbage alike).
FRAMES_PER_SECOND = 10.0
FRAME_BURST = 40
MAX_ERRORS = 100  # error frames on one socket before it is closed as abusive
MAX_REMEMBERED = 200  # agent message ids per socket that may be confirmed as delivered
CLOSE_BAD_TOKEN = 4403
CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001


def endpoint_for(visitor_id: str) -> str:
    """The conversation endpoint of a visitor: one conversation thread per visitor."""
    return f"webchat:{visitor_id}"


@dataclass(frozen=True, slots=True)
class WebchatSettings:
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8080",)
    max_message_chars: int = 4000
    max_frame_bytes: int = 32 * 1024
    messages_per_second: float = 1.0
    message_burst: int = 10
    max_connections_per_ip: int = 20
    client_ip_header: str | None = None
    history_limit: int = 100
    hello_timeout: float = 10.0
    heartbeat: float = 30.0

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> WebchatSettings:
        known = {f.name for f in fields(cls)}
        picked = {k: v for k, v in values.items() if k in known}
        if "allowed_origins" in picked:
            picked["allowed_origins"] = tuple(picked["allowed_origins"])
        return cls(**picked)


class _Socket:
    """One open websocket and what the visitor told us on it."""

    __slots__ = ("address", "email", "errors", "frames", "language", "name", "page", "sent_ids", "visitor_id", "ws")

    def __init__(self, ws: web.WebSocketResponse, address: str) -> None:
        self.ws = ws
        self.address = address
        self.visitor_id = ""
        self.name: str | None = None
        self.email: Identity | None = None
        self.language: str | None = None
        self.page: str | None = None
        self.frames = TokenBucket(FRAMES_PER_SECOND, FRAME_BURST)
        self.errors = 0
        self.sent_ids: dict[str, None] | None = None  # ordered, bounded; made on first use

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


def _static(name: str) -> bytes:
    return (resources.files("gateway") / "web" / "static" / name).read_bytes()


class WebchatChannel(ChannelAdapter):
    name: ClassVar[str] = "webchat"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.WEBCHAT,)
    can_send: ClassVar[bool] = True

    def __init__(
        self,
        sink: InboundSink,
        *,
        tokens: VisitorTokens,
        history: VisitorHistory,
        bus: ReplyBus,
        settings: WebchatSettings,
        public_url: str,
    ) -> None:
        super().__init__(sink)
        self.tokens = tokens
        self.history = history
        self.bus = bus
        self.settings = settings
        # The gateway's own pages (the demo) may always open the socket.
        self.origins = OriginPolicy([*settings.allowed_origins, origin_of(public_url)])
        self.connections = ConnectionCounter(settings.max_connections_per_ip)
        self._by_visitor: dict[str, set[_Socket]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._open: set[_Socket] = set()
        self._pushes: set[asyncio.Task[None]] = set()
        self._closing = False
        self._widget = _static("widget.js")
        self._widget_etag = '"' + hashlib.sha256(self._widget).hexdigest()[:32] + '"'
        self._chat_page = _static("chat.html").decode()

    def __repr__(self) -> str:
        return f"WebchatChannel(origins={sorted(self.settings.allowed_origins)!r})"

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get(WS_PATH, self.handle_socket),
            web.get("/static/widget.js", self.widget_js),
            web.get("/chat", self.chat_page),
        ]

    @property
    def open_sockets(self) -> int:
        return len(self._open)

    # lifecycle -----------------------------------------------------------------

    async def start(self, http: aiohttp.ClientSession) -> None:
        await super().start(http)
        self._closing = False
        await self.bus.start(self._deliver, self._resync)

    async def shutdown(self) -> None:
        await self.close_sockets()

    async def close_sockets(self) -> None:
        """Say goodbye to every visitor (the widget reconnects, perhaps to another process)."""
        self._closing = True
        sockets = list(self._open)
        await asyncio.gather(
            *(s.ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down") for s in sockets),
            return_exceptions=True,
        )

    async def stop(self) -> None:
        await self.close_sockets()
        for task in list(self._pushes):
            task.cancel()
        await self.bus.close()

    # static files --------------------------------------------------------------

    async def widget_js(self, request: web.Request) -> web.Response:
        headers = {
            "Cache-Control": "public, max-age=300",
            "ETag": self._widget_etag,
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("If-None-Match") == self._widget_etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=self._widget, content_type="application/javascript", charset="utf-8", headers=headers)

    async def chat_page(self, request: web.Request) -> web.Response:
        # ?lang=zh|en, else the browser's first language: the widget follows the page's.
        wanted = request.query.get("lang") or request.headers.get("Accept-Language", "")
        lang = "zh" if wanted.strip().lower().startswith("zh") else "en"
        html = self._chat_page.replace("{{lang}}", lang)
        headers = {
            "Content-Security-Policy": (
                "default-src 'none'; script-src 'self'; connect-src 'self'; "
                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        }
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)

    # the socket ------------------------------------------------------------------

    def _client_address(self, request: web.Request) -> str:
        header = self.settings.client_ip_header
        if header and request.headers.get(header):
            # The proxy appends the address it saw; earlier entries are the client's to invent.
            return request.headers[header].split(",")[-1].strip()
        return request.remote or "unknown"

    async def handle_socket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        # The gateway's own pages (the /chat demo) are same-origin, whatever port it runs on.
        same_origin = bool(origin) and origin.rstrip("/").lower() == f"{request.scheme}://{request.host}".lower()
        if not (same_origin or self.origins.allows(origin)):
            raise RequestRejected(403, "origin_not_allowed", "this page's origin may not open the web chat")
        ws = web.WebSocketResponse(
            heartbeat=self.settings.heartbeat or None,
            # Frames over max_frame_bytes get an error frame; only far larger ones (which
            # aiohttp would have to buffer) close the socket with 1009.
            max_msg_size=max(4 * self.settings.max_frame_bytes, 64 * 1024),
            compress=False,  # a zlib context per idle socket costs more than chat text saves
        )
        if not ws.can_prepare(request).ok:
            raise RequestRejected(400, "websocket_required", "this path only speaks websocket")
        if self._closing:
            raise web.HTTPServiceUnavailable(text="shutting down", headers={"Retry-After": "1"})
        address = self._client_address(request)
        if not self.connections.acquire(address):
            raise RequestRejected(429, "too_many_connections", "too many open chats from this address")
        sock = _Socket(ws, address)
        self._open.add(sock)
        try:
            await ws.prepare(request)
            await self._session(sock)
        except (asyncio.CancelledError, ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        except Exception:
            log.exception("web chat socket failed", extra={"visitor_id": sock.visitor_id})
        finally:
            self._open.discard(sock)
            self._leave(sock)
            self.connections.release(address)
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    async def _session(self, sock: _Socket) -> None:
        hello = await self._await_hello(sock)
        if hello is None or not await self._welcome(sock, hello):
            return
        async for msg in sock.ws:
            if msg.type is WSMsgType.TEXT:
                await self._on_text(sock, msg.data)
            elif msg.type is WSMsgType.BINARY:
                await sock.refuse(FrameError("malformed", "frames must be JSON text"))
            else:
                break
            if sock.errors >= MAX_ERRORS:
                await sock.ws.close(code=CLOSE_POLICY, message=b"too many bad frames")
                break

    async def _await_hello(self, sock: _Socket) -> Hello | None:
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
            frame = await self._parse(sock, msg.data)
            if frame is None:
                continue
            if isinstance(frame, Hello):
                return frame
            await sock.refuse(FrameError("hello_first", "send a hello frame first", id=getattr(frame, "id", None)))
        await sock.ws.close(code=CLOSE_POLICY, message=b"too many bad frames")
        return None

    async def _welcome(self, sock: _Socket, hello: Hello) -> bool:
        if hello.token is not None:
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
        self._by_visitor.setdefault(visitor_id, set()).add(sock)
        await sock.send(
            dumps(
                {
                    "type": "welcome",
                    "visitor_id": visitor_id,
                    "token": token,
                    "new": new,
                    "limits": {
                        "max_message_chars": self.settings.max_message_chars,
                        "messages_per_second": self.settings.messages_per_second,
                        "message_burst": self.settings.message_burst,
                    },
                }
            )
        )
        if not new:
            await self._send_history(sock)
        return True

    def _leave(self, sock: _Socket) -> None:
        sockets = self._by_visitor.get(sock.visitor_id)
        if sockets is None:
            return
        sockets.discard(sock)
        if not sockets:
            del self._by_visitor[sock.visitor_id]
            self._buckets.pop(sock.visitor_id, None)

    async def _send_history(self, sock: _Socket) -> None:
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

    async def _parse(self, sock: _Socket, data: str) -> Frame | None:
        """The frame, or None once the socket has been told (an error frame) what is wrong."""
        try:
            return parse_frame(data, max_bytes=self.settings.max_frame_bytes, max_chars=self.settings.max_message_chars)
        except FrameError as exc:
            await sock.refuse(exc)
        except Exception:  # parse_frame raises only FrameError; a bug there must not end the chat
            log.exception("web chat frame not parsed", extra={"visitor_id": sock.visitor_id})
            await sock.refuse(FrameError("malformed", "the frame could not be read"))
        return None

    async def _on_text(self, sock: _Socket, data: str) -> None:
        frame = await self._parse(sock, data)
        if frame is None:
            return
        wait = sock.frames.take()
        if wait:
            frame_id = frame.id if isinstance(frame, Send) else None
            await sock.refuse(FrameError("rate_limited", "too many frames", id=frame_id, retry_after=round(wait, 2)))
            return
        if isinstance(frame, Send):
            await self._accept(sock, frame)
        elif isinstance(frame, Identify):
            sock.name, sock.email = frame.name, frame.email
            await sock.send(
                dumps({"type": "identified", "name": frame.name, "email": frame.email.value if frame.email else None})
            )
        elif isinstance(frame, Delivered):
            await self._delivered(sock, frame.id)
        elif isinstance(frame, Simple):
            if frame.type == "ping":
                await sock.send('{"type":"pong"}')
            elif frame.type == "history":
                await self._send_history(sock)
        elif isinstance(frame, Hello):
            await sock.refuse(FrameError("unexpected_hello", "this socket has already said hello"))

    def _visitor_bucket(self, visitor_id: str) -> TokenBucket:
        bucket = self._buckets.get(visitor_id)
        if bucket is None:
            bucket = self._buckets[visitor_id] = TokenBucket(
                self.settings.messages_per_second, self.settings.message_burst
            )
        return bucket

    async def _accept(self, sock: _Socket, frame: Send) -> None:
        wait = self._visitor_bucket(sock.visitor_id).take()
        if wait:
            await sock.refuse(
                FrameError("rate_limited", "too many messages; wait a moment", id=frame.id, retry_after=round(wait, 2))
            )
            return
        message = InboundMessage(
            channel=Channel.WEBCHAT,
            external_id=f"{sock.visitor_id}:{frame.id}",
            endpoint=endpoint_for(sock.visitor_id),
            sender=Identity(kind=IdentityKind.WEBCHAT, value=sock.visitor_id),
            sender_name=sock.name,
            extra_identities=[sock.email] if sock.email else [],
            text=frame.text,
            language_hint=sock.language,
            meta={"page": sock.page} if sock.page else {},
        )
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
            await self._echo(sock, frame, result.message_id)

    async def _echo(self, sock: _Socket, frame: Send, message_id: str) -> None:
        """Show the visitor's message in their other tabs, wherever those are connected."""
        view = {
            "id": message_id,
            "from": "visitor",
            "text": mask_card_numbers(frame.text),
            "at": datetime.now(UTC).isoformat(),
            "client_id": frame.id,
        }
        try:
            await self.bus.publish(sock.visitor_id, dumps({"type": "message", "message": view}))
        except BusUnavailable:
            log.info("web chat echo not published", extra={"visitor_id": sock.visitor_id})

    async def _delivered(self, sock: _Socket, message_id: str) -> None:
        if sock.sent_ids is None or message_id not in sock.sent_ids:
            return  # only messages this socket was given can be confirmed by it
        del sock.sent_ids[message_id]
        update = StatusUpdate(channel=Channel.WEBCHAT, external_id=message_id, status=DeliveryStatus.DELIVERED)
        try:
            await self.sink.accept_status(update)
        except Exception as exc:  # a lost receipt only leaves the status at "sent"
            log.info("web chat receipt not recorded: %s", type(exc).__name__, extra={"message_id": message_id})

    # frames from the bus ---------------------------------------------------------

    def _deliver(self, visitor_id: str, frame: str) -> None:
        sockets = self._by_visitor.get(visitor_id)
        if not sockets:
            return
        message_id = _agent_message_id(frame)
        for sock in list(sockets):
            if message_id:
                sock.remember(message_id)
            self._push(sock, frame)

    def _resync(self) -> None:
        for sockets in self._by_visitor.values():
            for sock in sockets:
                self._push(sock, '{"type":"resync"}')

    def _push(self, sock: _Socket, frame: str) -> None:
        task = asyncio.ensure_future(sock.send(frame))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    # replies -------------------------------------------------------------------

    async def send(self, request: OutboundRequest) -> SendResult:
        recipient = request.recipient
        if recipient.kind is not IdentityKind.WEBCHAT:
            return SendResult(
                ok=False, retryable=False, error=f"recipient {recipient.kind.value} is not a web chat visitor"
            )
        view = message_view(request.message)
        view.pop("status", None)
        try:
            await self.bus.publish(recipient.value, dumps({"type": "message", "message": view}))
        except BusUnavailable as exc:
            return SendResult(ok=False, retryable=True, error=f"reply bus unavailable: {exc}"[:300])
        return SendResult(ok=True, external_id=request.message.id, status=DeliveryStatus.SENT)


def _agent_message_id(frame: str) -> str | None:
    """The id of an agent message frame (cheap check first: most frames are not)."""
    if '"from":"agent"' not in frame:
        return None
    try:
        body = json.loads(frame)
        return str(body["message"]["id"]) if body.get("type") == "message" else None
    except (ValueError, KeyError, TypeError):
        return None
