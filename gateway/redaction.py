"""Masking card numbers before a message is stored, published or logged.

A card number is 13–19 digits, optionally grouped with single spaces or dashes, that
passes the Luhn check. It is masked to its last four digits, keeping the grouping so
the agent still sees where it was (``**** **** **** 1111``).
"""

from __future__ import annotations

import re

# Digits with optional single separators; not preceded by a digit or a plus sign (a
# phone number) and not followed by another digit.
_CANDIDATE = re.compile(r"(?<![\d+])\d(?:[ \-]?\d){12,18}(?!\d)")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mask_card_numbers(text: str | None) -> str | None:
    if not text:
        return text
    # Full-width digits (０-９, common with Chinese input methods) count as digits too;
    # the translation keeps every character in place, so spans map back one to one.
    normalised = text.translate(_FULLWIDTH)
    pieces: list[str] = []
    last = 0
    for match in _CANDIDATE.finditer(normalised):
        digits = [c for c in match.group(0) if c.isdigit()]
        if not 13 <= len(digits) <= 19 or not luhn_ok("".join(digits)):
            continue
        keep_from = len(digits) - 4
        seen = 0
        pieces.append(text[last : match.start()])
        for original, plain in zip(text[match.start() : match.end()], match.group(0), strict=True):
            if plain.isdigit():
                pieces.append(original if seen >= keep_from else "*")
                seen += 1
            else:
                pieces.append(original)
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


_FULLWIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"－": "-", "\u3000": " "})
