"""The bot speaks the customer's language only.

FAQ answers and the bot's texts (the hint, the handoff confirmation, the rating request)
are often written in both languages in one text — a Chinese line, then an English one, or
``中文 / English`` on one line. ``in_language`` keeps the part in the customer's language:
each line (and each side of a ``/`` with a space beside it on a line) whose script says it is another language
goes; lines with no letters (blank lines, numbers, links alone) stay. A text with nothing
in that language is sent whole rather than emptied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.model import Message
from gateway.routing import language as languages

SEPARATOR = " / "
# "中文。/ English" or "中文 / English"; never the slash of a link or of "1/5".
_SPLIT = re.compile(r"\s+/\s*|\s*/\s+")
_LINK = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+")  # links and addresses say nothing of the language


def _detect(part: str) -> str | None:
    return languages.detect(_LINK.sub(" ", part))


def _kept(part: str, language: str) -> bool:
    found = _detect(part)
    return found is None or found == language or found not in ("zh", "en")


def in_language(text: str, language: str | None) -> str:
    """``text`` with the parts in the other language taken out (``language`` None: all of it)."""
    if language not in ("zh", "en") or not text:
        return text
    lines: list[str] = []
    matched = False
    for line in text.split("\n"):
        parts = _SPLIT.split(line)
        if len(parts) > 1:
            found = {_detect(p) for p in parts} - {None}
            if len(found) > 1:  # "中文 / English": the side in the customer's language
                keep = [p.strip() for p in parts if _kept(p, language)]
                if keep:
                    matched = True
                    lines.append(SEPARATOR.join(keep))
                continue
        found_line = _detect(line)
        if found_line == language:
            matched = True
        if _kept(line, language):
            lines.append(line)
    if not matched:
        return text
    return _squeeze(lines)


def _squeeze(lines: list[str]) -> str:
    """No blank lines at either end, nor two in a row where a paragraph went."""
    out: list[str] = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def customer_language(messages: Iterable[Message], *fallbacks: object) -> str | None:
    """``zh`` or ``en``: the script of the customer's latest words that have letters, else
    the first fallback that names one (a contact's ``language`` attribute, routing's
    language); None when nothing tells."""
    for message in reversed(list(messages)):
        if message.direction == "inbound" and message.text.strip():
            found = languages.detect(message.text)
            if found == "zh":
                return "zh"
            if found is not None:
                return "en"
    for fallback in fallbacks:
        code = languages.normalise(fallback)
        if code in ("zh", "en"):
            return code
    return None
