"""``POST /api/v1/conversations/{id}/typing``: the agent is typing a reply; the customer
sees it where their channel can show it (web chat). See ``gateway.wiring.typing_relay``."""

from __future__ import annotations

from aiohttp import web

from gateway.web.auth import require
from gateway.web.read_scope import ReadScope
from gateway.wiring.services import SERVICES
from gateway.wiring.typing_relay import TypingRelay

TYPING = web.AppKey("typing", TypingRelay)


async def agent_typing(request: web.Request) -> web.Response:
    principal = require(request, "agent")
    store = request.app[SERVICES].store
    conv = ReadScope(request, principal).require(await store.get_conversation(request.match_info["id"]))
    shown = False
    if conv.status != "resolved":
        shown = await request.app[TYPING].agent_typing(conv, principal.name)
    return web.json_response({"shown": shown})


routes = [web.post("/api/v1/conversations/{id}/typing", agent_typing)]
