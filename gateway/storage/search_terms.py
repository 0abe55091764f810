"""The words a conversation is found by, and the words of a search query.

Indexing and querying cut text the same way, so a query matches when each of its terms
was written for the conversation (a message, the contact's name or an identity, a case
number): NFKC and case folding first (full-width ``ＣＳ`` is ``cs``), then

* runs of letters and digits outside Chinese, Japanese and Korean script are words
  (``alice@example.com`` is ``alice``, ``example``, ``com``; ``CS-20261202-0001`` is
  ``cs``, ``20261202``, ``0001``);
* a run of CJK characters gives its overlapping pairs (``退款失败`` is ``退款``, ``款失``,
  ``失败``), so a query of two characters or more finds them inside any sentence; a single
  character alone is its own term;
* a phone number is also its digits and each tail of 7 digits or more, so ``13800138000``
  finds ``+8613800138000``.

Terms longer than ``MAX_TERM`` characters are cut; a text gives at most ``MAX_TERMS``.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TERM = 40
MAX_TERMS = 400
MAX_QUERY_TERMS = 8

_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\U00020000-\U0003134f"
)
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold()


def _cut(text: str) -> list[str]:
    out: list[str] = []
    for cjk, word in _RUN.findall(_normal(text)):
        if word:
            out.append(word[:MAX_TERM])
        elif len(cjk) == 1:
            out.append(cjk)
        else:
            out.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
    return out


def text_terms(*texts: str) -> list[str]:
    """The distinct terms of ``texts``, in order of first appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for term in _cut(text):
            seen.setdefault(term)
            if len(seen) >= MAX_TERMS:
                return list(seen)
    return list(seen)


def identity_terms(identity_keys: list[str]) -> list[str]:
    """Terms of identity keys (``kind:value``): the value's words, and for a phone its
    digits and their tails of 7 or more (the number without its country code)."""
    out: dict[str, None] = {}
    for key in identity_keys:
        kind, _, value = key.partition(":")
        for term in text_terms(value):
            out.setdefault(term)
        if kind == "phone":
            digits = "".join(ch for ch in value if ch.isdigit())[:MAX_TERM]
            for start in range(0, max(0, len(digits) - 6)):
                out.setdefault(digits[start:])
    return list(out)


def query_terms(query: str) -> list[str]:
    """The terms a conversation must have for ``query``: every one (AND); past
    ``MAX_QUERY_TERMS`` the rest are ignored."""
    return text_terms(query)[:MAX_QUERY_TERMS]
