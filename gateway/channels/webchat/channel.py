"""The web chat channel: the widget's websocket, its script and a demo page.

``GET /webchat/ws`` checks ``Origin`` and the connections of the client address before
upgrading; the socket's chat itself is a ``Session`` (``session.py``).

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
import os
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import ClassVar

import aiohttp
from aiohttp import web

from gateway.channels.base import ChannelAdapter, InboundSink, wrong_recipient
from gateway.channels.config import BuildContext, OtherSecrets
from gateway.channels.webchat.config import WebchatConfig
from gateway.channels.webchat.frames import dumps, message_view
from gateway.channels.webchat.limits import ConnectionCounter, OriginPolicy, origin_of
from gateway.channels.webchat.ports import BusUnavailable, ReplyBus, VisitorHistory
from gateway.channels.webchat.session import Session
from gateway.channels.webchat.signed import SignedIdentity
from gateway.channels.webchat.tokens import VisitorTokens, derive_token_key
from gateway.channels.webchat.visitors import Visitors, VisitorSocket
from gateway.errors import RequestRejected, header_text
from gateway.model import Channel, DeliveryStatus, IdentityKind, OutboundRequest, SendResult

log = logging.getLogger(__name__)

WS_PATH = "/webchat/ws"
CLOSE_GOING_AWAY = 1001


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
        settings: WebchatConfig,
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
        self.visitors = Visitors(settings)
        # Signed identities of the site's users (data-user-jwt); set by the verification
        # wiring when verification.webchat_jwt_secret is configured.
        self.signed: SignedIdentity | None = None
        self._open: set[VisitorSocket] = set()
        self._pushes: set[asyncio.Task[None]] = set()
        self._closing = False
        # Set by the gateway (gateway/wiring/typing_relay.py): the visitor is typing.
        self.on_visitor_typing: Callable[[str], Awaitable[None]] | None = None
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
        if header_text(request.headers, "If-None-Match") == self._widget_etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=self._widget, content_type="application/javascript", charset="utf-8", headers=headers)

    async def chat_page(self, request: web.Request) -> web.Response:
        # ?lang=zh|en, else the browser's first language: the widget follows the page's.
        wanted = request.query.get("lang") or (header_text(request.headers, "Accept-Language") or "")
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
        value = header_text(request.headers, header) if header else None
        if value:
            # The proxy appends the address it saw; earlier entries are the client's to invent.
            return value.split(",")[-1].strip()
        return request.remote or "unknown"

    def _verify_origin(self, request: web.Request) -> None:
        origin = header_text(request.headers, "Origin")
        # The gateway's own pages (the /chat demo) are same-origin, whatever port it runs on.
        same_origin = bool(origin) and origin.rstrip("/").lower() == f"{request.scheme}://{request.host}".lower()
        if not (same_origin or self.origins.allows(origin)):
            raise RequestRejected(403, "origin_not_allowed", "this page's origin may not open the web chat")

    async def handle_socket(self, request: web.Request) -> web.StreamResponse:
        self._verify_origin(request)
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
        sock = VisitorSocket(ws, address)
        self._open.add(sock)
        try:
            await ws.prepare(request)
            await self._session(sock).run()
        except (asyncio.CancelledError, ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        except Exception:
            log.exception("web chat socket failed", extra={"visitor_id": sock.visitor_id})
        finally:
            self._open.discard(sock)
            self.visitors.leave(sock)
            self.connections.release(address)
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    def _session(self, sock: VisitorSocket) -> Session:
        return Session(
            sock,
            sink=self.sink,
            tokens=self.tokens,
            history=self.history,
            bus=self.bus,
            settings=self.settings,
            visitors=self.visitors,
            signed=self.signed,
            typing=self._visitor_typing,
        )

    # typing, both ways ------------------------------------------------------------

    async def _visitor_typing(self, visitor_id: str) -> None:
        if self.on_visitor_typing is not None:
            await self.on_visitor_typing(visitor_id)

    async def agent_typing(self, visitor_id: str, name: str | None) -> None:
        """Tell the visitor's sockets, in whichever process, that an agent is typing.
        A lost signal costs nothing: no retry, and ``BusUnavailable`` is swallowed."""
        with contextlib.suppress(BusUnavailable):
            await self.bus.publish(visitor_id, dumps({"type": "typing", "by": "agent", "name": name}))

    # frames from the bus ---------------------------------------------------------

    def _deliver(self, visitor_id: str, frame: str) -> None:
        sockets = self.visitors.sockets_of(visitor_id)
        if not sockets:
            return
        message_id = _agent_message_id(frame)
        for sock in sockets:
            if message_id:
                sock.remember(message_id)
            self._push(sock, frame)

    def _resync(self) -> None:
        for sock in self.visitors.every_socket():
            self._push(sock, '{"type":"resync"}')

    def _push(self, sock: VisitorSocket, frame: str) -> None:
        task = asyncio.ensure_future(sock.send(frame))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    # replies -------------------------------------------------------------------

    async def send(self, request: OutboundRequest) -> SendResult:
        wrong = wrong_recipient(request, IdentityKind.WEBCHAT, address="web chat visitor id")
        if wrong:
            return wrong
        view = message_view(request.message)
        view.pop("status", None)
        try:
            await self.bus.publish(request.recipient.value, dumps({"type": "message", "message": view}))
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


def token_key(config: WebchatConfig, secrets: OtherSecrets) -> bytes:
    """``channels.webchat.token_secret``, else a key derived from ``channels.api.secret``,
    else from the first ops token; random (tokens die with the process) only if none is set."""
    candidates = [
        config.token_secret.get_secret_value() if config.token_secret else None,
        secrets.api_secret,
        *secrets.ops_tokens,
    ]
    for secret in candidates:
        if secret is not None:
            return derive_token_key(secret)
    log.warning("no secret configured for web chat visitor tokens; set channels.webchat.token_secret")
    return os.urandom(32)


def build(config: WebchatConfig, ctx: BuildContext) -> WebchatChannel:
    return WebchatChannel(
        ctx.sink,
        tokens=VisitorTokens(token_key(config, ctx.secrets)),
        history=ctx.webchat_history,
        bus=ctx.open_reply_bus(),
        settings=config,
        public_url=ctx.public_url,
    )
