"""Long replies on channels with a per-message size limit (WhatsApp, Messenger,
Instagram, Telegram, WeChat).

An agent may write up to 20,000 characters; providers take 1,000 bytes to 4,096
characters per message. Rather than refusing, a reply is split at natural breaks and sent
as consecutive messages. A multi-part send that fails half-way remembers which parts went
out, so the retry resumes instead of sending the first parts twice (in this process; a
retry picked up by another gateway process may repeat parts — at-least-once).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from gateway.model import Message, SendResult

Measure = Callable[[str], int]

# Where a part may end, best first: paragraph, line, sentence (CJK and Latin), clause, word.
_BREAKS = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "，", "、", "; ", ", ", " ")


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji may be two)."""
    return len(text.encode("utf-16-le")) // 2


def _longest_prefix(text: str, limit: int, measure: Measure) -> int:
    """The largest n with measure(text[:n]) <= limit (measure grows with n)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def split_text(text: str, limit: int, *, measure: Measure = len) -> list[str]:
    """``text`` in parts of at most ``limit`` (as ``measure`` counts), cut at the last
    natural break in the second half of a part, else hard."""
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        cut = max(1, _longest_prefix(rest, limit, measure))
        window = rest[:cut]
        best = -1
        for mark in _BREAKS:
            at = window.rfind(mark)
            if at >= cut // 2:
                best = at + len(mark)
                break
        if best > 0:
            cut = best
        part = rest[:cut].rstrip()
        if part:
            parts.append(part)
        rest = rest[cut:].lstrip("\n ")
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


def text_with_links(message: Message) -> str:
    """The reply's text with its attachments as links (these channels get text only)."""
    lines = [message.text] if message.text else []
    for attachment in message.attachments:
        if attachment.url:
            lines.append(f"{attachment.name}: {attachment.url}" if attachment.name else attachment.url)
    return "\n".join(lines)


class PartProgress:
    """Provider ids of the parts already sent, per reply, bounded in memory."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._sent: OrderedDict[str, list[str]] = OrderedDict()
        self._capacity = capacity

    def sent(self, message_id: str) -> list[str]:
        return list(self._sent.get(message_id, []))

    def record(self, message_id: str, external_id: str) -> None:
        self._sent.setdefault(message_id, []).append(external_id)
        self._sent.move_to_end(message_id)
        while len(self._sent) > self._capacity:
            self._sent.popitem(last=False)

    def forget(self, message_id: str) -> None:
        self._sent.pop(message_id, None)


async def send_parts(
    progress: PartProgress,
    message_id: str,
    parts: list[str],
    send_one: Callable[[str], Awaitable[SendResult]],
) -> SendResult:
    """Send ``parts`` in order, resuming after those already sent. The result carries the
    last part's provider id (its delivery report stands for the whole reply)."""
    done = progress.sent(message_id)
    for index in range(len(done), len(parts)):
        result = await send_one(parts[index])
        if not result.ok:
            if not result.retryable:
                progress.forget(message_id)
            if len(parts) > 1:
                error = f"part {index + 1} of {len(parts)}: {result.error}"
                return result.model_copy(update={"error": error, "meta": {**result.meta, "parts_sent": index}})
            return result
        done.append(result.external_id or "")
        progress.record(message_id, result.external_id or "")
    progress.forget(message_id)
    meta = {"parts": done} if len(parts) > 1 else {}
    return SendResult(ok=True, external_id=done[-1] or None, meta=meta)
