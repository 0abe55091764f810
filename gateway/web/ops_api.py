"""Watching the operation: queue health and conversations at risk of a missed reply."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import RequestRejected
from gateway.selfservice.presence import presence_of
from gateway.web.auth import require
from gateway.web.views import conversation_view, ok, queue_views
from gateway.wiring.services import SERVICES

DUE_SOON_WINDOW = 3600.0  # "due soon": reply-by within the next hour


async def queues(request: web.Request) -> web.Response:
    require(request, "ops")
    services = request.app[SERVICES]
    router = services.router()
    agents = sorted(services.known_agents())
    out = await queue_views(services.store, router, router.queues())
    presence = await presence_of(services.store, agents)
    for queue in out:
        queue["agents"] = [a for a in agents if queue["name"] in router.agent_queues(a)]
        queue["agents_online"] = [a for a in queue["agents"] if presence.get(a) == "online"]
    names = services.agent_names()
    return ok(
        {
            "queues": out,
            "agents": [{"agent": a, "name": names.get(a, a), "status": presence[a]} for a in agents],
            "rules_version": router.version,
        }
    )


async def reply_tracking(request: web.Request) -> web.Response:
    require(request, "ops")
    state = request.query.get("state", "overdue")
    if state not in ("due_soon", "overdue"):
        raise RequestRejected(400, "bad_request", "state must be due_soon or overdue")
    tracker = request.app[SERVICES].reply_tracker
    conversations = await tracker.at_risk(state, due_soon_within=DUE_SOON_WINDOW)
    return ok(
        {
            "state": state,
            "conversations": [conversation_view(c) for c in conversations],
            "summary": await tracker.summary(),
        }
    )


routes = [
    web.get("/api/v1/queues", queues),
    web.get("/api/v1/reply-tracking", reply_tracking),
]
