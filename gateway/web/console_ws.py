"""``GET /api/v1/events/ws``: the console's live updates.

A browser cannot put an ``Authorization`` header on a websocket, and a token in the URL
ends up in proxy logs and browser history; so the socket opens unauthenticated and its
first frame carries the token: ``{"type": "auth", "token": "..."}``. A wrong token gets an
error frame and close code ``4401``; no auth frame within ``AUTH_TIMEOUT`` gets ``1008``.

Then the server sends ``{"type": "ready", ...}`` and, from the process's event feed,
``{"type": "event", "event": "message.inbound", "conversation_id", "contact_id", "queue",
"assignee", "status", "data": {...}}`` for every event the caller may see: ops see all;
an agent sees events of conversations assigned to them or waiting in a queue they can
serve. ``{"type": "resync", "live": bool}`` means "events may have been missed: reload
everything"; ``live`` says whether the feed is subscribed now (the console's badge follows
it: the feed subscribes when the first console connects, after that console's "ready").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from gateway.errors import RequestRejected, parse_json_body
from gateway.routing.router import RouterHolder
from gateway.selfservice.waiting import SEEN_TTL_MS, mark_seen
from gateway.storage.base import Store
from gateway.web.auth import Principal, TokenTable
from gateway.web.console_feed import FEED, FeedEvent
from gateway.web.read_scope import agent_reads_all, may_read
from gateway.web.views import dumps
from gateway.wiring.services import SERVICES

log = logging.getLogger(__name__)

WS_PATH = "/api/v1/events/ws"
AUTH_TIMEOUT = 10.0
HEARTBEAT = 30.0
MAX_FRAME_BYTES = 16 * 1024
SOCKET_BACKLOG = 500  # frames waiting for a slow socket; beyond that it gets one resync
CLOSE_BAD_TOKEN = 4401
CLOSE_POLICY = 1008
CLOSE_GOING_AWAY = 1001
RESYNC = '{"type":"resync"}'


def visible(principal: Principal, event: FeedEvent, agent_queues: list[str], *, read_all: bool = False) -> bool:
    """The read scope of ``gateway.web.read_scope``, for one event."""
    if principal.role == "ops" or read_all:
        return True
    agent = principal.agent
    if agent and agent in (event.body.get("agent"), event.body.get("assignee")):
        return True  # e.g. the resolve of a conversation they held
    conv = event.conversation
    if conv is None:
        return False
    return may_read(principal, conv, agent_queues, read_all=False)


def event_frame(event: FeedEvent) -> str:
    conv = event.conversation
    return dumps(
        {
            "type": "event",
            "event": event.routing_key,
            "conversation_id": event.conversation_id,
            "contact_id": event.body.get("contact_id"),
            "queue": conv.queue if conv else None,
            "assignee": conv.assignee if conv else None,
            "status": conv.status.value if conv else None,
            "data": event.body,
        }
    )


class ConsoleSocket:
    """One signed-in console: a listener of the feed with its own bounded send queue."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        principal: Principal,
        router: RouterHolder,
        *,
        read_all: bool = False,
        live: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ws = ws
        self.principal = principal
        self._router = router
        self._read_all = read_all
        self._live = live
        self._frames: asyncio.Queue[str] = asyncio.Queue(maxsize=SOCKET_BACKLOG)

    def wants(self, event: FeedEvent) -> bool:
        queues = self._router().agent_queues(self.principal.agent) if self.principal.agent else []
        return visible(self.principal, event, queues, read_all=self._read_all)

    def push_event(self, event: FeedEvent) -> None:
        self._put(event_frame(event))

    def push_resync(self) -> None:
        # The feed's state goes with it: a resync is also how the console learns that the
        # feed subscribed after its "ready" (subscribing starts with the first console) or
        # was lost, so its badge says what is true now.
        self._put(dumps({"type": "resync", "live": self._live()}))

    def _put(self, frame: str) -> None:
        try:
            self._frames.put_nowait(frame)
        except asyncio.QueueFull:
            while not self._frames.empty():  # what it missed is replaced by "reload"
                self._frames.get_nowait()
            self._frames.put_nowait(RESYNC)

    async def write(self) -> None:
        while not self.ws.closed:
            frame = await self._frames.get()
            await self.ws.send_str(frame)


class ConsoleSockets:
    """The open console sockets of this process, closed first on shutdown."""

    def __init__(self) -> None:
        self.open: set[web.WebSocketResponse] = set()

    async def close_all(self) -> None:
        sockets, self.open = list(self.open), set()
        await asyncio.gather(
            *(ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down") for ws in sockets),
            return_exceptions=True,
        )


SOCKETS = web.AppKey("console_sockets", ConsoleSockets)


async def _send_error(ws: web.WebSocketResponse, code: str, message: str) -> None:
    with contextlib.suppress(Exception):
        await ws.send_str(dumps({"type": "error", "code": code, "message": message}))


async def _authenticate(ws: web.WebSocketResponse, tokens: TokenTable) -> Principal | None:
    try:
        msg = await ws.receive(timeout=AUTH_TIMEOUT)
    except TimeoutError:
        await _send_error(ws, "auth_timeout", 'send {"type": "auth", "token": "..."} first')
        await ws.close(code=CLOSE_POLICY, message=b"no auth frame")
        return None
    if msg.type is not WSMsgType.TEXT:
        if msg.type is WSMsgType.BINARY:
            await _send_error(ws, "malformed", "frames must be JSON text")
            await ws.close(code=CLOSE_POLICY, message=b"malformed auth frame")
        return None
    try:
        frame = parse_json_body(msg.data, what="the frame")
    except RequestRejected:
        frame = None
    if not isinstance(frame, dict) or frame.get("type") != "auth" or not isinstance(frame.get("token"), str):
        await _send_error(ws, "auth_required", 'the first frame must be {"type": "auth", "token": "..."}')
        await ws.close(code=CLOSE_POLICY, message=b"auth frame expected")
        return None
    principal = tokens.lookup(frame["token"].strip()) if frame["token"].strip() else None
    if principal is None:
        await _send_error(ws, "invalid_token", "this token is not valid")
        await ws.close(code=CLOSE_BAD_TOKEN, message=b"invalid token")
        return None
    return principal


async def events_socket(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_FRAME_BYTES)
    if not ws.can_prepare(request).ok:
        raise RequestRejected(400, "websocket_required", "this path only speaks websocket")
    services = request.app[SERVICES]
    if services.stopping:
        raise web.HTTPServiceUnavailable(text="shutting down", headers={"Retry-After": "1"})
    feed = request.app[FEED]
    sockets = request.app[SOCKETS]
    await ws.prepare(request)
    sockets.open.add(ws)
    console: ConsoleSocket | None = None
    writer: asyncio.Task[None] | None = None
    seen: asyncio.Task[None] | None = None
    try:
        principal = await _authenticate(ws, TokenTable(services.config.auth))
        if principal is None:
            return ws
        console = ConsoleSocket(
            ws, principal, services.router, read_all=agent_reads_all(request), live=feed.ready
        )
        feed.add(console)
        await ws.send_str(
            dumps({"type": "ready", "role": principal.role, "agent": principal.agent, "live": feed.ready()})
        )
        writer = asyncio.create_task(console.write(), name="console-socket-writer")
        if principal.agent:
            seen = asyncio.create_task(_keep_seen(services.store, principal.agent), name="console-agent-seen")
        await _read(ws)
    except (asyncio.CancelledError, ConnectionError, aiohttp.ClientConnectionResetError):
        pass
    except Exception:
        log.exception("console socket failed")
    finally:
        if console is not None:
            feed.remove(console)
        for task in (writer, seen):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        sockets.open.discard(ws)
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws


async def _keep_seen(store: Store, agent: str) -> None:
    """While an agent's console is open they count as online to customers waiting for a
    person (``gateway.selfservice.waiting``); the marker outlives a closed console by at
    most its lifetime."""
    while True:
        try:
            await mark_seen(store, agent)
        except Exception as exc:  # storage down: the marker lapses, the console goes on
            log.info("console presence not recorded: %s", type(exc).__name__)
        await asyncio.sleep(SEEN_TTL_MS / 3000)


async def _read(ws: web.WebSocketResponse) -> None:
    """The client only pings; anything else gets an error frame and is otherwise ignored."""
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            break
        try:
            frame: Any = parse_json_body(msg.data, what="the frame")
        except RequestRejected:
            frame = None
        if isinstance(frame, dict) and frame.get("type") == "ping":
            await ws.send_str('{"type":"pong"}')
        else:
            await _send_error(ws, "unknown_frame", 'the console only sends {"type": "ping"}')


async def close_sockets(app: web.Application) -> None:
    await app[SOCKETS].close_all()


routes = [web.get(WS_PATH, events_socket)]
