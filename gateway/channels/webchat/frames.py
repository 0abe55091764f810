"""The widget's websocket protocol: JSON text frames, parsed here without any I/O.

Client → server: ``hello`` (first, with the token if the browser has one, and optionally
name, email, language, page), ``message`` {id, text}, ``identify`` {name, email},
``history``, ``delivered`` {id}, ``typing``, ``ping``.
Server → client: ``welcome`` {visitor_id, token, new, limits}, ``history`` {messages},
``ack`` {id, message_id, duplicate}, ``message`` {message} (a rating request carries
``rating`` {min, max}), ``identified``, ``resync``,
``pong``, and ``error`` {code, message, id?, retry_after?} for anything refused.

Whatever the text of a frame, ``parse_frame`` returns a frame or raises ``FrameError``,
never anything else; and every string in a frame it returns can be encoded as UTF-8 (a
lone surrogate, which JSON's ``\\uXXXX`` escapes can spell, becomes U+FFFD), so storing
or echoing it cannot fail later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import MAX_JSON_DEPTH, RequestRejected, clean_text, parse_json_body
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Direction, Identity, IdentityKind, Message

# Whole-string patterns (fullmatch: ``$`` alone would also accept a trailing newline).
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MESSAGE_ID = re.compile(r"msg_[0-9A-Z]{26}")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}")
MAX_NAME = 100
MAX_PAGE = 500
MAX_EMAIL = 254
MAX_DEPTH = MAX_JSON_DEPTH  # frames are flat objects; far deeper nesting is refused before parsing
# Surrogate code points left after json.loads are lone ones (a valid \ud83d\ude00 pair is
# joined into one character): they cannot be encoded as UTF-8, so storing them would fail.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
RATING_REQUEST_FLAG = "csat-request"  # the flag of the rating request (gateway.selfservice.ratings)


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
    user_jwt: str | None = None  # the site's signed identity of its user (data-user-jwt)
    phone: Identity | None = None


@dataclass(slots=True)
class Send:
    id: str
    text: str


@dataclass(slots=True)
class Identify:
    name: str | None
    email: Identity | None
    phone: Identity | None = None


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
    # no control characters or line breaks in a name
    name = " ".join(_CONTROL.sub(" ", clean_text(value)).split())
    if len(name) > MAX_NAME:
        raise FrameError("invalid", f"name must be at most {MAX_NAME} characters")
    return name or None


def _email(value: object) -> Identity | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_EMAIL:
        raise FrameError("invalid_email", "not an email address")
    value = value.strip()
    if _SURROGATE.search(value) or _CONTROL.search(value):
        raise FrameError("invalid_email", "not an email address")
    try:
        return make_identity(IdentityKind.EMAIL, value)
    except InvalidIdentity:
        raise FrameError("invalid_email", "not an email address") from None


def _phone(value: object) -> Identity | None:
    """A phone number in international form (``+86 138 0013 8000``): a claim, never proof."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40 or _SURROGATE.search(value) or _CONTROL.search(value):
        raise FrameError("invalid_phone", "not a phone number in international form (+86 …)")
    try:
        return make_identity(IdentityKind.PHONE, value.strip())
    except InvalidIdentity:
        raise FrameError("invalid_phone", "not a phone number in international form (+86 …)") from None


def _language(value: object) -> str | None:
    if isinstance(value, str) and LANGUAGE.fullmatch(value):
        return value.lower()
    return None


def _page(value: object) -> str | None:
    """The page the widget sits on, without query or fragment (they may hold personal data)."""
    if not isinstance(value, str) or len(value) > 4096:
        return None
    try:
        parts = urlsplit(_CONTROL.sub("", clean_text(value)))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:MAX_PAGE]


def parse_frame(data: str, *, max_bytes: int, max_chars: int) -> Frame:
    """One text frame → a typed frame, or ``FrameError`` saying what is wrong with it.

    ``FrameError`` is the only exception it raises, whatever ``data`` holds.
    """
    body = _json_object(data, max_bytes)
    kind = body.get("type")
    if kind == "message":
        return _send(body, max_chars)
    if kind == "hello":
        return _hello(body)
    if kind == "identify":
        return Identify(name=_name(body.get("name")), email=_email(body.get("email")), phone=_phone(body.get("phone")))
    if kind == "delivered":
        message_id = body.get("id")
        if not isinstance(message_id, str) or not MESSAGE_ID.fullmatch(message_id):
            raise FrameError("invalid_id", "id must be a message id")
        return Delivered(id=message_id)
    if kind in ("history", "typing", "ping"):
        return Simple(type=kind)
    if not isinstance(kind, str):
        raise FrameError("unknown_type", "type must be a string")
    raise FrameError("unknown_type", f"unknown frame type {kind[:40]!r}")


def _json_object(data: str, max_bytes: int) -> dict[str, Any]:
    # surrogatepass: only counting bytes here (a socket's text never holds surrogates).
    if len(data) > max_bytes or len(data.encode("utf-8", "surrogatepass")) > max_bytes:
        raise FrameError("too_large", f"frames must be at most {max_bytes} bytes")
    try:
        body = parse_json_body(data, what="the frame")
    except RequestRejected as exc:
        if exc.code == "too_deep":
            raise FrameError(
                "too_deep", f"frames may nest arrays and objects at most {MAX_DEPTH} levels deep"
            ) from None
        raise FrameError("malformed", exc.message) from None
    if not isinstance(body, dict):
        raise FrameError("malformed", "frames must be JSON objects")
    return body


def _send(body: dict[str, Any], max_chars: int) -> Send:
    client_id = body.get("id")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise FrameError("invalid_id", "id must be 1-64 letters, digits, '-' or '_'")
    text = body.get("text")
    if not isinstance(text, str):
        raise FrameError("invalid", "text must be a string", id=client_id)
    text = clean_text(text).replace("\x00", "")
    if not text.strip():
        raise FrameError("empty", "the message has no text", id=client_id)
    if len(text) > max_chars:
        raise FrameError("too_long", f"messages must be at most {max_chars} characters", id=client_id)
    return Send(id=client_id, text=text)


def _hello(body: dict[str, Any]) -> Hello:
    token = body.get("token")
    try:
        email = _email(body.get("email"))
    except FrameError:
        email = None  # a stale address kept by the browser must not stop the chat
    try:
        name = _name(body.get("name"))
    except FrameError:
        name = None
    user_jwt = body.get("user_jwt")
    try:
        phone = _phone(body.get("phone"))
    except FrameError:
        phone = None  # as for the email: a stale value must not stop the chat
    return Hello(
        # kept as sent (made encodable) for the token check to refuse if it is not one
        token=clean_text(token) if isinstance(token, str) and token else None,
        user_jwt=clean_text(user_jwt) if isinstance(user_jwt, str) and user_jwt else None,
        phone=phone,
        name=name,
        email=email,
        language=_language(body.get("language")),
        page=_page(body.get("page")),
    )


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
        view["by"] = "bot" if message.sender.kind == "bot" else "agent"  # the widget labels the bot
        view["status"] = message.status.value if message.status else None
        if RATING_REQUEST_FLAG in message.flags:
            view["rating"] = {"min": 1, "max": 5}  # the widget offers buttons; a typed digit works too
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
