"""The rule every channel follows for the kinds of events its provider documents.

Each kind is either rendered as a line an agent can read (a photo without a caption is
"[photo]", a poll shows its question and options, a location its name, address and
coordinates), or deliberately ignored and counted in
``gateway_inbound_ignored_total{channel, kind}``. A kind the gateway does not know yet
(a provider adds kinds without notice) is kept with a placeholder naming it, never
dropped and never stored empty. The table of every kind per channel is in
``docs/message-kinds.md``.
"""

from __future__ import annotations

import re

from gateway import metrics
from gateway.model import Attachment

_LABEL = re.compile(r"[^a-z0-9_.]+")

# What a media message without a caption reads as.
MEDIA_LABELS = {
    "image": "photo",
    "photo": "photo",
    "video": "video",
    "audio": "audio",
    "voice": "voice message",
    "document": "document",
    "file": "file",
    "sticker": "sticker",
    "animation": "GIF",
    "video_note": "video message",
    "shortvideo": "short video",
    "gif": "GIF",
}


def kind_label(kind: str) -> str:
    """A bounded metric label for a kind: lower-case letters, digits, ``_`` and ``.``."""
    return _LABEL.sub("_", kind.lower())[:40] or "unknown"


def ignored(channel: str, kind: str, count: int = 1) -> None:
    """Count events of ``kind`` deliberately not stored."""
    metrics.INBOUND_IGNORED.labels(channel, kind_label(kind)).inc(count)


def media_line(kind: str, name: str | None = None) -> str:
    """``[photo]``, ``[document: invoice.pdf]`` — a media message with nothing written."""
    label = MEDIA_LABELS.get(kind, kind.replace("_", " "))
    return f"[{label}: {name}]" if name else f"[{label}]"


def attachment_lines(attachments: list[Attachment]) -> str:
    """One line per attachment by its MIME family, for a message that has nothing else:
    ``[photo: receipt.jpg]``, ``[document: statement.pdf]``."""
    lines = []
    for item in attachments:
        family = item.content_type.split("/", 1)[0]
        kind = {"image": "image", "video": "video", "audio": "audio"}.get(family, "document")
        lines.append(media_line(kind, item.name))
    return "\n".join(lines)


def unknown_line(provider: str, kind: str) -> str:
    """The placeholder of a kind the gateway does not know: the agent sees that something
    arrived, and what, and can ask the customer to send it another way."""
    return f"[{provider} message of a kind not shown here: {kind or 'unknown'}]"


def poll_line(question: str, options: list[str], *, chosen: list[str] | None = None) -> str:
    """📊 question — 1. option / 2. option …, and what the customer chose when known."""
    lines = [f"📊 {question}".rstrip()]
    lines += [f"{n}. {option}" for n, option in enumerate(options, 1)]
    if chosen is not None:
        lines.append("→ " + (", ".join(chosen) if chosen else "(vote withdrawn)"))
    return "\n".join(lines)
