"""Reading fields out of provider JSON without trusting its shape.

Providers add, drop and retype fields; a customer message must not turn into a 500
because one optional field is a number instead of a string. These helpers give a safe
default for optional fields and raise ``BadEvent`` for required ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.model import Attachment, Identity

MAX_EXTERNAL_ID = 512


class BadEvent(ValueError):
    """One event that cannot be read; the rest of a batch still counts."""


def text_of(value: Any, what: str) -> str:
    """A required non-empty id-like string (Meta sends ids as strings; numbers tolerated)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadEvent(f"{what}: missing")
    text = str(value).strip()
    if not text:
        raise BadEvent(f"{what}: empty")
    if len(text) > MAX_EXTERNAL_ID:
        raise BadEvent(f"{what}: longer than {MAX_EXTERNAL_ID} characters")
    return text


def optional_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def dict_of(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def list_of(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def from_epoch(value: Any, *, millis: bool = False) -> datetime | None:
    """Meta timestamps: WhatsApp sends Unix seconds as a string, Messenger milliseconds."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    if millis:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def location_text(latitude: Any, longitude: Any, *, name: str = "", address: str = "") -> str:
    label = ", ".join(p for p in (name, address) if p)
    where = f"({latitude}, {longitude})"
    return f"📍 {label} {where}" if label else f"📍 {where}"


@dataclass
class Content:
    """What one provider message carries, read step by step by a parser: the parts of an
    ``InboundMessage`` that depend on the message's kind."""

    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    route: bool = True
    extra_identities: list[Identity] = field(default_factory=list)

    def fallback_text(self, text: str) -> None:
        """``text`` unless an earlier step found some: the first text found wins."""
        self.text = self.text or text
