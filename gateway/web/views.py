"""JSON shapes the API answers with, built from domain types in one place."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.model import Contact, Conversation, Message


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


def message_view(message: Message) -> dict[str, Any]:
    return message.model_dump(mode="json")


def contact_view(contact: Contact) -> dict[str, Any]:
    return contact.model_dump(mode="json")
