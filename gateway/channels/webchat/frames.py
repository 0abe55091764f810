"""The widget's websocket protocol: JSON text frames, parsed here without any I/O.

Client → server: ``hello`` (first, with the token if the browser has one, and optionally
name, email, language, page), ``message`` {id, text}, ``identify`` {name, email},
``history``, ``delivered`` {id}, ``typing``, ``ping``.
Server → client: ``welcome`` {visitor_id, token, new, limits}, ``history`` {messages},
``ack`` {id, message_id, duplicate}, ``message`` {message}, ``identified``, ``resync``,
``pong``, and ``error`` {code, message, id?, retry_after?} for anything refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Direction, Identity, IdentityKind, Message

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MESSAGE_ID = re.compile(r"^msg_[0-9A-Z]{26}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}$")
MAX_NAME = 100
MAX_PAGE = 500


class FrameError(Exception):
    """A frame the server will not act on; answered with an ``error`` frame."""

    def __init__(self, code: str, message: str, *, id: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id
        self.retry_after = retry_after

    def frame(self) -> str:
        body: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.id is not None:
            body["id"] = self.id
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return dumps(body)


@dataclass(slots=True)
class Hello:
    token: str | None
    name: str | None
    email: Identity | None
    language: str | None
    page: str | None


@dataclass(slots=True)
class Send:
    id: str
    text: str


@dataclass(slots=True)
class Identify:
    name: str | None
    email: Identity | None


@dataclass(slots=True)
class Simple:
    """``history``, ``typing`` and ``ping``: nothing but the type."""

    type: str


@dataclass(slots=True)
class Delivered:
    id: str


Frame = Hello | Send | Identify | Simple | Delivered


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _name(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FrameError("invalid", "name must be text")
    name = " ".join(value.split())  # no control characters or line breaks in a name
    if len(name) > MAX_NAME:
        raise FrameError("invalid", f"name must be at most {MAX_NAME} characters")
    return name or None


def _email(value: object) -> Identity | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 254:
        raise FrameError("invalid_email", "not an email address")
    try:
        return make_identity(IdentityKind.EMAIL, value)
    except InvalidIdentity:
        raise FrameError("invalid_email", "not an email address") from None


def _language(value: object) -> str | None:
    if isinstance(value, str) and LANGUAGE.match(value):
        return value.lower()
    return None


def _page(value: object) -> str | None:
    """The page the widget sits on, without query or fragment (they may hold personal data)."""
    if not isinstance(value, str) or len(value) > 4096:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:MAX_PAGE]


def parse_frame(data: str, *, max_bytes: int, max_chars: int) -> Frame:
    """One text frame → a typed frame, or ``FrameError`` saying what is wrong with it."""
    if len(data) > max_bytes or len(data.encode()) > max_bytes:
        raise FrameError("too_large", f"frames must be at most {max_bytes} bytes")
    try:
        body = json.loads(data)
    except ValueError:
        raise FrameError("malformed", "frames must be JSON objects") from None
    if not isinstance(body, dict):
        raise FrameError("malformed", "frames must be JSON objects")
    kind = body.get("type")
    if kind == "message":
        client_id = body.get("id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise FrameError("invalid_id", "id must be 1-64 letters, digits, '-' or '_'")
        text = body.get("text")
        if not isinstance(text, str):
            raise FrameError("invalid", "text must be a string", id=client_id)
        text = text.replace("\x00", "")
        if not text.strip():
            raise FrameError("empty", "the message has no text", id=client_id)
        if len(text) > max_chars:
            raise FrameError("too_long", f"messages must be at most {max_chars} characters", id=client_id)
        return Send(id=client_id, text=text)
    if kind == "hello":
        token = body.get("token")
        try:
            email = _email(body.get("email"))
        except FrameError:
            email = None  # a stale address kept by the browser must not stop the chat
        try:
            name = _name(body.get("name"))
        except FrameError:
            name = None
        return Hello(
            token=token if isinstance(token, str) and token else None,
            name=name,
            email=email,
            language=_language(body.get("language")),
            page=_page(body.get("page")),
        )
    if kind == "identify":
        return Identify(name=_name(body.get("name")), email=_email(body.get("email")))
    if kind == "delivered":
        message_id = body.get("id")
        if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
            raise FrameError("invalid_id", "id must be a message id")
        return Delivered(id=message_id)
    if kind in ("history", "typing", "ping"):
        return Simple(type=kind)
    raise FrameError("unknown_type", f"unknown frame type {str(kind)[:40]!r}")


def message_view(message: Message) -> dict[str, Any]:
    """A stored message as the widget shows it: never notes, internal ids or metadata."""
    mine = message.direction is Direction.INBOUND
    view: dict[str, Any] = {
        "id": message.id,
        "from": "visitor" if mine else "agent",
        "text": message.text,
        "at": message.received_at.isoformat(),
    }
    if mine:
        # external id is "<visitor id>:<client message id>": the widget matches its own.
        if message.external_id and ":" in message.external_id:
            view["client_id"] = message.external_id.partition(":")[2]
    else:
        view["name"] = message.sender.name if message.sender.kind == "agent" else None
        view["status"] = message.status.value if message.status else None
    files = [
        {"url": a.url, "name": a.name, "content_type": a.content_type}
        for a in message.attachments
        if a.url and a.url.startswith(("https://", "http://"))
    ]
    if files:
        view["attachments"] = files
    return view


def message_frame(message: Message) -> str:
    return dumps({"type": "message", "message": message_view(message)})
