"""Masking card numbers before anything customer-supplied is stored, published or logged.

A card number is a run of 13–19 digits that passes the Luhn check, however it is written:
digits of any script (full-width ``４１１１``, Arabic-Indic …), separated by up to three
characters of any Unicode space (no-break, thin, ideographic …), dots, dashes of any kind
or invisible format characters, mixed as the customer likes, with anything next to it
(``卡号4111111111111111 123``, ``… 12/25``, ``订单 12345 4111 1111 1111 1111``).

The finder reads each such chain of digit groups and tries every window that starts and
ends on a group boundary: a card followed by a CVV or preceded by another number is one
of those windows. Every digit of a Luhn-valid window but its last four becomes ``*``;
separators and the text around stay as they were, so lengths never change and the agent
still sees where the number was (``**** **** **** 1111``).

Left alone: phone numbers (a number right after ``+`` up to 15 digits as in E.164, one
starting with the ``00`` dialling prefix, a Chinese mobile with its ``86``); calendar dates
(``2024-12-02``, ``02.12.2024``), which also split a chain; digits glued to more digits (a
20-digit order number holds no card); anything short of 13 digits or failing Luhn.
docs/security.md lists where masking applies.
"""

from __future__ import annotations

import re
import sys
import unicodedata

MIN_DIGITS, MAX_DIGITS = 13, 19
MAX_SEPARATOR = 3  # "4111 - 1111": up to three separator characters between two digits

_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d\u30fc"
_DOTS = ".\u00b7\u2024\u2027\u30fb\uff0e\uff65"
# Any space but line breaks (numbers on separate lines are separate numbers).
_SPACES = " \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
# Invisible format characters a copy-paste (or an attacker) slips between digits.
_INVISIBLE = "\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff"
_SEP = f"[{_DASHES}{_DOTS}{_SPACES}{_INVISIBLE}]"


def _digit_values() -> dict[str, str]:
    """Every character that is a digit to the gateway, with its ASCII digits: one whose NFKC
    form is decimal digits — any script's digits, and superscript ``⁴``, circled ``④`` or
    ``⑪`` (two digits), mathematical ``𝟒`` … Search terms are cut after NFKC, so anything
    indexed as a digit is a digit here too (else a card in such digits would be a key)."""
    values = {str(d): str(d) for d in range(10)}
    for code in range(0x80, sys.maxunicode + 1):
        ch = chr(code)
        normal = unicodedata.normalize("NFKC", ch) if unicodedata.decomposition(ch) else ch
        if normal.isdecimal():
            values[ch] = "".join(str(unicodedata.decimal(d)) for d in normal)
    return values


DIGIT_VALUES = _digit_values()


def _class(chars: list[str]) -> str:
    """A regex character class of ``chars`` (as code point ranges)."""
    points = sorted(ord(c) for c in chars)
    parts: list[str] = []
    start = prev = points[0]
    for p in [*points[1:], -1]:
        if p != prev + 1:
            parts.append(re.escape(chr(start)) + ("" if prev == start else "-" + re.escape(chr(prev))))
            start = p
        prev = p
    return "[" + "".join(parts) + "]"


DIGIT = _class(list(DIGIT_VALUES))
_MAX_PER_CHAR = max(len(v) for v in DIGIT_VALUES.values())
# A chain: digits (``DIGIT``) joined by short separator runs.
# Separators and digits are disjoint classes, so this matches in linear time.
_CHAIN = re.compile(rf"{DIGIT}(?:{_SEP}{{0,{MAX_SEPARATOR}}}{DIGIT})*")
_ENOUGH_DIGITS = re.compile(
    rf"(?:{DIGIT}{_SEP}{{0,{MAX_SEPARATOR}}}){{{-(-MIN_DIGITS // _MAX_PER_CHAR) - 1}}}{DIGIT}"
)
_PLUS = "+\uff0b"
_CN_MOBILE = re.compile(r"861[3-9]\d{9}")


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
    """``text`` with every card number masked to its last four digits; None stays None."""
    if not text or not _ENOUGH_DIGITS.search(text):
        return text
    chars: list[str] | None = None
    for chain in _CHAIN.finditer(text):
        hidden = _hidden_positions(text, chain)
        if hidden:
            if chars is None:
                chars = list(text)
            for pos in hidden:
                chars[pos] = "*"
    return text if chars is None else "".join(chars)


def contains_card_number(text: str | None) -> bool:
    return bool(text) and mask_card_numbers(text) != text


def _hidden_positions(text: str, chain: re.Match[str]) -> set[int]:
    """Positions (in ``text``) of the digits to mask in one chain."""
    groups = _groups(text, chain)
    if sum(len(_value(text, g)) for g in groups) < MIN_DIGITS:
        return set()
    hidden: set[int] = set()
    for segment in _split_at_dates(text, groups):
        hidden |= _mask_segment(text, segment, phone_start=_after_plus(text, segment))
    return hidden


def _groups(text: str, chain: re.Match[str]) -> list[list[int]]:
    """The chain's digit groups, each a list of positions in ``text``."""
    groups: list[list[int]] = [[]]
    previous = -1
    for offset, ch in enumerate(chain.group(0)):
        if ch not in DIGIT_VALUES:
            continue
        pos = chain.start() + offset
        if previous >= 0 and pos != previous + 1:
            groups.append([])
        groups[-1].append(pos)
        previous = pos
    return groups


def _value(text: str, group: list[int]) -> str:
    return "".join(DIGIT_VALUES[text[p]] for p in group)


def _separator(text: str, left: list[int], right: list[int]) -> str:
    return text[left[-1] + 1 : right[0]]


def _split_at_dates(text: str, groups: list[list[int]]) -> list[list[list[int]]]:
    """The chain cut into segments, with calendar dates (three groups) taken out."""
    segments: list[list[list[int]]] = [[]]
    i = 0
    while i < len(groups):
        if i + 2 < len(groups) and _is_date(text, groups, i):
            segments.append([])
            i += 3
            continue
        segments[-1].append(groups[i])
        i += 1
    return [s for s in segments if s]


def _is_date(text: str, groups: list[list[int]], i: int) -> bool:
    """Whether groups i..i+2 are a calendar date standing on its own: ``2024-12-02`` or
    ``02.12.2024`` (a four-digit year 1900–2099), one separator character inside, and not
    the same one on either side (``4111.2012.12.01.1111`` is one number, not a date)."""
    inner = _separator(text, groups[i], groups[i + 1])
    if len(inner) != 1 or inner not in _DATE_SEPARATORS or _separator(text, groups[i + 1], groups[i + 2]) != inner:
        return False
    if i > 0 and inner in _separator(text, groups[i - 1], groups[i]):
        return False
    if i + 3 < len(groups) and inner in _separator(text, groups[i + 2], groups[i + 3]):
        return False
    a, b, c = (_value(text, g) for g in groups[i : i + 3])
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2:
        year, month, day = a, b, c
    elif len(a) <= 2 and len(b) <= 2 and len(c) == 4:
        year, month, day = c, b, a
        if int(month) > 12:
            month, day = day, month
    else:
        return False
    return 1900 <= int(year) <= 2099 and 1 <= int(month) <= 12 and 1 <= int(day) <= 31


_DATE_SEPARATORS = "-./\uff0d\uff0e"


def _after_plus(text: str, segment: list[list[int]]) -> bool:
    """Whether the segment follows a ``+`` (an international phone number)."""
    start = segment[0][0]
    before = text[max(0, start - 2) : start].rstrip()
    return before.endswith(tuple(_PLUS))


def _mask_segment(text: str, segment: list[list[int]], *, phone_start: bool) -> set[int]:
    """Every digit but the last four of each Luhn-valid window on group boundaries.

    All valid windows count (their union is hidden), so a spurious window made of a
    neighbouring number and part of a card can never leave the card's other digits shown.
    Luhn sums come from prefix sums, so a long chain costs linear time.
    """
    # One entry per digit: a two-digit character (``⑪``) stands at both its digits.
    positions = [p for g in segment for p in g for _ in DIGIT_VALUES[text[p]]]
    digits = "".join(_value(text, g) for g in segment)
    bounds = [0]
    for g in segment:
        bounds.append(bounds[-1] + len(_value(text, g)))
    # plain[parity][k] / doubled[parity][k]: sums over digits before k at that index parity.
    plain = [[0], [0]]
    doubled = [[0], [0]]
    for k, ch in enumerate(digits):
        d = ord(ch) - 48
        for parity in (0, 1):
            own = parity == k % 2
            plain[parity].append(plain[parity][-1] + (d if own else 0))
            doubled[parity].append(doubled[parity][-1] + (_DOUBLED[d] if own else 0))
    hidden: set[int] = set()
    for gi in range(len(segment)):
        start = bounds[gi]
        for gj in range(gi + 1, len(bounds)):
            end = bounds[gj]
            size = end - start
            if size > MAX_DIGITS:
                break
            if size < MIN_DIGITS:
                continue
            last = (end - 1) % 2  # the rightmost digit is never doubled
            total = plain[last][end] - plain[last][start] + doubled[1 - last][end] - doubled[1 - last][start]
            if total % 10 or _phone_like(digits[start:end], phone_start=phone_start and start == 0):
                continue
            hidden.update(positions[start : end - 4])
    return hidden


_DOUBLED = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]


def _phone_like(digits: str, *, phone_start: bool) -> bool:
    """International phone numbers: after ``+`` (E.164, at most 15 digits), after the
    ``00`` dialling prefix (no card number starts with it), or a Chinese mobile with 86."""
    if phone_start and len(digits) <= 15:
        return True
    return digits.startswith("00") or bool(_CN_MOBILE.fullmatch(digits))


# One-time codes (gateway.verification): cut out of whatever the gateway keeps of a message.
CODE_CUT = "[verification code]"
_BY_VALUE: dict[str, list[str]] = {}
for _ch, _v in DIGIT_VALUES.items():
    _BY_VALUE.setdefault(_v, []).append(_ch)
_SPELLED = {value: _class(chars) for value, chars in _BY_VALUE.items()}


def _code_pattern(code: str) -> re.Pattern[str]:
    """``code`` as a whole run of digits (any character that is a digit to ``DIGIT_VALUES``,
    as ``codes.code_in`` reads a code after NFKC), a space or dash allowed between."""
    def spellings(rest: str) -> list[str]:
        # Each way to write ``rest`` with one- or two-digit characters (``⑫`` is 12).
        if not rest:
            return [""]
        out = []
        for size in (1, 2):
            piece = rest[:size]
            if len(piece) == size and piece in _SPELLED:
                tail = spellings(rest[size:])
                sep = r"[\s\-]?" if rest[size:] else ""
                out += [_SPELLED[piece] + sep + t for t in tail]
        return out

    if not code.isdigit() or not code.isascii():
        return re.compile(re.escape(code))
    return re.compile(rf"(?<!{DIGIT})(?:" + "|".join(spellings(code)) + rf")(?!{DIGIT})")


def cut_codes(value: object, codes: list[str]) -> object:
    """``value`` (a string, or dicts and lists of them) with every code replaced by
    ``[verification code]``."""
    patterns = [_code_pattern(c) for c in codes if c]

    def cut(item: object) -> object:
        if isinstance(item, str):
            for pattern in patterns:
                item = pattern.sub(CODE_CUT, item)
            return item
        if isinstance(item, dict):
            return {k: cut(v) for k, v in item.items()}
        if isinstance(item, list):
            return [cut(v) for v in item]
        return item

    return cut(value)
