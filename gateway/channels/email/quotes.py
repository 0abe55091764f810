"""Separating what the customer just wrote from the history their client quoted.

Agents read the new text; the whole body stays on the message (``meta``). Recognised:
``>`` quotes at the end, and the reply headers of the common clients — Gmail/Apple
("On … wrote:", "在 … 写道："), Outlook ("-----Original Message-----", "-----原始邮件-----",
a From:/Sent:/To:/Subject: block, also in Chinese: 发件人/发送时间/收件人/主题), QQ Mail
("------------------ 原始邮件 ------------------"), 163/126 ("---- 回复的原邮件 ----").
Forwarded messages are not history — a customer forwarding a receipt wants it read — so
"Forwarded message" blocks stay.
"""

from __future__ import annotations

import re

_SEPARATORS = [
    re.compile(r"^\s*-{2,}\s*(original message|原始邮件|原邮件|回复的原邮件)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*original\s*-{2,}\s*$", re.I),  # QQ Mail in English
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's rule above its header block
]
# "On Tue, 2 Jan 2024 at 10:00, Li Lei <li@example.com> wrote:" (may wrap onto a 2nd line)
_WROTE = [
    re.compile(r"^\s*on\b.{0,300}\bwrote:\s*$", re.I),
    re.compile(r"^\s*(在|于).{0,300}(写道|寫道)\s*[:：]?\s*$"),
    re.compile(r"^.{0,300}(写道|寫道)\s*[:：]\s*$"),
    re.compile(r"^\s*am\b.{0,300}\bschrieb\b.{0,100}:\s*$", re.I),
    re.compile(r"^\s*le\b.{0,300}\ba écrit\s*:\s*$", re.I),
]
_HEADER_FROM = re.compile(r"^\s*\**\s*(from|发件人|寄件者|發件人)\s*\**\s*[:：]", re.I)
_HEADER_OTHER = re.compile(
    r"^\s*\**\s*(sent|date|to|subject|cc|发送时间|发送日期|日期|时间|收件人|主题|抄送|寄件日期|收件者|主旨|副本)\s*\**\s*[:：]",
    re.I,
)
_QUOTED = re.compile(r"^\s*>")


def _outlook_block_at(lines: list[str], i: int) -> bool:
    """A From: line followed, within a few lines, by at least two other header lines."""
    if not _HEADER_FROM.match(lines[i]):
        return False
    following = [line for line in lines[i + 1 : i + 7] if line.strip()]
    return sum(1 for line in following[:5] if _HEADER_OTHER.match(line)) >= 2


def _marker_at(lines: list[str], i: int) -> bool:
    line = lines[i]
    if any(p.match(line) for p in _SEPARATORS):
        return True
    if any(p.match(line) for p in _WROTE):
        return True
    # A "wrote:" header wrapped onto two lines by the client.
    if i + 1 < len(lines) and len(line) < 300 and any(p.match(f"{line} {lines[i + 1]}") for p in _WROTE[:2]):
        return not _QUOTED.match(line)
    return _outlook_block_at(lines, i)


def strip_quoted(text: str) -> str:
    """The new part of a reply; the text unchanged when nothing is recognised or when
    cutting would leave nothing (a customer who wrote below the quote)."""
    if not text:
        return text
    lines = text.split("\n")
    cut = len(lines)
    for i in range(len(lines)):
        if _marker_at(lines, i):
            cut = i
            break
    kept = lines[:cut]
    # Trailing '>' quotes (and blank lines among them) are history too.
    while kept and (not kept[-1].strip() or _QUOTED.match(kept[-1])):
        kept.pop()
    result = "\n".join(kept).strip()
    return result if result else text.strip()
