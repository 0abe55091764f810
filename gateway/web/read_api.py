"""Reading conversations and contacts: ``GET /api/v1/conversations[/{id}]``, ``/contacts/{id}``."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from gateway.errors import RequestRejected
from gateway.model import Channel, Conversation
from gateway.storage.base import ConversationQuery
from gateway.verification.service import verification_view
from gateway.web.auth import require
from gateway.web.ops_api import DUE_SOON_WINDOW
from gateway.web.read_scope import ReadScope
from gateway.web.views import contact_view, conversation_view, message_view, ok
from gateway.wiring.services import SERVICES, Services

STATUSES = {"open", "pending", "resolved"}
CHANNELS = {c.value for c in Channel}
MAX_QUERY = 200
_INTEGER = re.compile(r"-?[0-9]+")


def _int_param(request: web.Request, name: str, default: int | None, *, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or len(raw) > 20:  # int() would also take " 5", "1_0" and "٥"
        raise RequestRejected(400, "bad_request", f"{name} must be an integer")
    value = int(raw)
    if not low <= value <= high:
        raise RequestRejected(400, "bad_request", f"{name} must be between {low} and {high}")
    return value


def _choice(request: web.Request, name: str, allowed: set[str]) -> str | None:
    value = request.query.get(name)  # absent: no filter; present: one of the documented values
    if value is not None and value not in allowed:
        raise RequestRejected(400, "bad_request", f"{name} must be one of {sorted(allowed)}")
    return value


def _text_param(request: web.Request, name: str, *, most: int) -> str | None:
    value = (request.query.get(name) or "").strip()
    if len(value) > most:
        raise RequestRejected(400, "bad_request", f"{name} must be at most {most} characters")
    return value or None


async def list_conversations(request: web.Request) -> web.Response:
    """Listing and search (DESIGN §7.3): ``q`` words, ``status``, ``queue``, ``channel``,
    ``assignee`` (a name, ``me`` for the calling agent, ``-`` for nobody), ``sla``,
    ``contact_id``; pages by ``cursor`` (``next_cursor`` of the page before)."""
    principal = require(request, "agent", "ops")
    scope = ReadScope(request, principal)
    assignee = _text_param(request, "assignee", most=128)
    if assignee == "me":
        if not principal.agent:
            raise RequestRejected(400, "bad_request", "assignee=me needs an agent's token")
        assignee = principal.agent
    query = ConversationQuery(
        q=_text_param(request, "q", most=MAX_QUERY) or "",
        status=_choice(request, "status", STATUSES),
        queue=_text_param(request, "queue", most=128),
        channel=_choice(request, "channel", CHANNELS),
        assignee=assignee,
        contact_id=_text_param(request, "contact_id", most=128),
        sla=_choice(request, "sla", {"due_soon", "overdue"}),
        cursor=_text_param(request, "cursor", most=160),
        before=_int_param(request, "before", None, low=0, high=2**53),
        limit=_int_param(request, "limit", 50, low=1, high=500) or 50,
        now_ms=int(time.time() * 1000),
        due_soon_ms=int(DUE_SOON_WINDOW * 1000),
        reader=scope.reader,
        reader_queues=scope.queues,
    )
    try:
        page = await request.app[SERVICES].store.find_conversations(query)
    except ValueError:
        raise RequestRejected(400, "bad_request", "cursor is not one this API gave") from None
    # The store kept to the agent's scope (and its cursor with it); checked again here for
    # a conversation that moved out of scope since.
    shown = [c for c in page.conversations if scope.allows(c)]
    views = await _with_verification(request.app[SERVICES], shown)
    return ok({"conversations": views, "next_cursor": page.next_cursor, "next_before": page.next_before})


async def _with_verification(services: Services, conversations: list[Conversation]) -> list[dict[str, Any]]:
    """The conversations' views with their contact's ``verification`` state."""
    records = await services.store.get_verifications([c.contact_id for c in conversations])
    now_ms = int(services.outbound.clock() * 1000)
    available = services.config.verification is not None
    views = []
    for conv in conversations:
        view = conversation_view(conv)
        view["verification"] = verification_view(records.get(conv.contact_id), now_ms)
        view["verification"]["available"] = available
        views.append(view)
    return views


async def get_conversation(request: web.Request) -> web.Response:
    scope = ReadScope(request, require(request, "agent", "ops"))
    store = request.app[SERVICES].store
    conv = scope.require(await store.get_conversation(request.match_info["id"]))
    messages = await store.get_messages(conv.id)
    contact = await store.get_contact(conv.contact_id)
    data = (await _with_verification(request.app[SERVICES], [conv]))[0]
    data["messages"] = [message_view(m) for m in messages]
    data["contact"] = contact_view(contact) if contact else None
    return ok(data)


async def get_contact(request: web.Request) -> web.Response:
    scope = ReadScope(request, require(request, "agent", "ops"))
    store = request.app[SERVICES].store
    contact, shown = await scope.require_contact(store, request.match_info["id"])
    data = contact_view(contact)
    data["conversations"] = [conversation_view(c) for c in shown]
    return ok(data)


routes = [
    web.get("/api/v1/conversations", list_conversations),
    web.get("/api/v1/conversations/{id}", get_conversation),
    web.get("/api/v1/contacts/{id}", get_contact),
]
