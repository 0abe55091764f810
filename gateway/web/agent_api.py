"""Who the caller is, and what an agent's console needs at a glance.

``GET /api/v1/me`` tells a client which role its token has (the console picks its view by
it). ``GET /api/v1/agents/me``: agents may not read ``/api/v1/queues`` (the whole
operation's health is ops' view), yet they must see how much work waits in the queues
they serve, and what they hold now.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from gateway.model import Conversation, Direction
from gateway.selfservice.presence import choose, chosen_of, presence_of
from gateway.web.auth import PRINCIPAL, require
from gateway.web.conversation_api import _body as read_body
from gateway.web.views import conversation_view, ok, queue_views
from gateway.wiring.services import SERVICES, Services

PREVIEW_CHARS = 140


def _urgency(conv: Conversation) -> tuple[int, float, float]:
    """Open before pending; the nearest reply-by first; then the most recently active."""
    reply_by = conv.reply_by.timestamp() if conv.reply_by else float("inf")
    return (0 if conv.status == "open" else 1, reply_by, -conv.updated_at.timestamp())


async def _held(services: Services, conv: Conversation) -> dict[str, Any]:
    contact, messages = await asyncio.gather(
        services.store.get_contact(conv.contact_id), services.store.get_messages(conv.id, limit=5)
    )
    data = conversation_view(conv)
    data["contact_name"] = contact.name if contact else ""
    last = next((m for m in reversed(messages) if m.direction is not Direction.NOTE), None)
    data["last_message"] = (
        {
            "direction": last.direction.value,
            "text": (last.text or last.subject or "")[:PREVIEW_CHARS],
            "received_at": last.received_at.isoformat(),
        }
        if last
        else None
    )
    return data


async def me(request: web.Request) -> web.Response:
    principal = require(request, "agent")
    agent = principal.agent or ""
    services = request.app[SERVICES]
    router = services.router()
    queues = await queue_views(services.store, router, router.agent_queues(agent))
    ids = await services.store.active_conversations(agent)
    found = await asyncio.gather(*(services.store.get_conversation(cid) for cid in ids))
    held = sorted((c for c in found if c is not None and c.assignee == agent and c.status != "resolved"), key=_urgency)
    status = (await presence_of(services.store, [agent]))[agent]
    return ok(
        {
            "agent": agent,
            "presence": {"status": status, "chosen": await chosen_of(services.store, agent)},
            "capacity": router.agent_capacity(agent),
            "active": len(held),
            "queues": queues,
            "transfer_queues": router.queues(),
            "conversations": await asyncio.gather(*(_held(services, c) for c in held)),
            "rules_version": router.version,
        }
    )


async def whoami(request: web.Request) -> web.Response:
    """The caller, with the display names of all agents (the console shows names, not ids)."""
    principal = request[PRINCIPAL]
    return ok(
        {
            "role": principal.role,
            "agent": principal.agent,
            "name": principal.name,
            "agent_names": request.app[SERVICES].agent_names(),
        }
    )


class PresenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["online", "away", "offline"]


async def set_presence(request: web.Request) -> web.Response:
    """The agent's choice: away and offline hold whatever the console does; online means
    online while their console is open."""
    principal = require(request, "agent")
    body = await read_body(request, PresenceBody)
    services = request.app[SERVICES]
    agent = principal.agent or ""
    await choose(services.store, agent, body.status)
    status = (await presence_of(services.store, [agent]))[agent]
    return ok({"agent": agent, "chosen": body.status, "status": status})


routes = [
    web.get("/api/v1/me", whoami),
    web.get("/api/v1/agents/me", me),
    web.post("/api/v1/agents/me/presence", set_presence),
]
