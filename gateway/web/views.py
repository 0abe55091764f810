"""JSON shapes the API answers with, built from domain types in one place."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from gateway.model import Contact, Conversation, Message
from gateway.routing.router import Router
from gateway.storage.base import Store


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def reply_tracking(conv: Conversation) -> dict[str, Any]:
    return {
        "state": conv.sla_state.value,
        "awaiting_since": conv.awaiting_since.isoformat() if conv.awaiting_since else None,
        "reply_by": conv.reply_by.isoformat() if conv.reply_by else None,
        "breaches": conv.sla_breaches,
        "first_response_seconds": conv.first_response_seconds,
    }


def conversation_view(conv: Conversation) -> dict[str, Any]:
    data = conv.model_dump(mode="json")
    data["reply_tracking"] = reply_tracking(conv)
    return data


async def queue_views(store: Store, router: Router, names: list[str]) -> list[dict[str, Any]]:
    """Depth, oldest wait and required skills of each queue named."""
    stats = await store.queue_stats(names)
    now_ms = int(time.time() * 1000)
    out = []
    for name in names:
        s = stats[name]
        out.append(
            {
                "name": name,
                "depth": s.waiting,
                "oldest_wait_seconds": round((now_ms - s.oldest_wait_ms) / 1000, 3) if s.oldest_wait_ms else None,
                "skills": router.queue_skills(name),
            }
        )
    return out


def message_view(message: Message) -> dict[str, Any]:
    return message.model_dump(mode="json")


def contact_view(contact: Contact) -> dict[str, Any]:
    return contact.model_dump(mode="json")
