"""The error a request handler raises for input the sender got wrong, in one neutral place.

Channels, the core and the web layer all raise ``RequestRejected``; the web layer's
error middleware (``gateway.web.errors``) answers it as ``{"error": {"code", "message"}}``
with its status, and the Twilio paths answer it in TwiML. Nothing here imports the rest
of the gateway.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any


class RequestRejected(Exception):
    """A request the provider or customer got wrong: answered with ``status`` and a JSON error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# Limits of every JSON document the gateway reads (webhooks, the API, websocket frames):
# far above what any provider or client sends, far below what could hurt.
MAX_JSON_DEPTH = 64  # arrays/objects inside each other; json.loads recurses once per level
MAX_JSON_DIGITS = 64  # digits of one number; 64-bit ids have 20, int() of 4,300 raises
# A JSON string, or an unterminated one up to the end (the closing quote is optional so that
# the scan stays linear: an unterminated string is malformed anyway).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# A \uD800–\uDFFF escape: json.loads keeps one that is not half of a pair as a lone
# surrogate, which no UTF-8 encoder takes (storing, logging or sending it fails later).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _NotJson(ValueError):
    """A number ``json.loads`` would take although it is not interoperable JSON."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def clean_text(value: str) -> str:
    """``value`` with each lone surrogate replaced by U+FFFD: the one rule for every
    customer string, so that whatever is stored, logged or sent can be encoded."""
    return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value


def header_text(headers: Mapping[str, str], name: str, *, status: int = 400) -> str | None:
    """The request header ``name`` as text (``None`` when absent), or ``RequestRejected``
    (``status``, 400 unless said) when its bytes are not UTF-8.

    aiohttp hands such bytes on as surrogate escapes, which compare, hash, log and echo
    badly; every header the gateway reads is read through here, before it is used.
    """
    value = headers.get(name)
    if value is not None and _SURROGATE.search(value):
        code = "unauthorized" if status == 401 else "bad_header"
        raise RequestRejected(status, code, f"the {name} header is not UTF-8 text")
    return value


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays/objects more than ``limit`` levels (brackets
    inside strings do not count). Linear, and checked before parsing."""
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot be deeper than the number of opening brackets
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = 0
    for step in map(_DEPTH_STEP.__getitem__, brackets):
        depth += step
        if depth > limit:
            return True
    return False


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_DIGITS:
        raise _NotJson("number_too_long", f"a number has more than {MAX_JSON_DIGITS} digits")
    return int(digits)


def _float(text: str) -> float:
    if len(text) > MAX_JSON_DIGITS + 16:
        raise _NotJson("number_too_long", f"a number has more than {MAX_JSON_DIGITS} digits")
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson("malformed_json", f"the number {text[:40]} is out of range")
    return value


def _constant(name: str) -> None:
    raise _NotJson("malformed_json", f"{name} is not JSON")


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): _cleaned(item) for key, item in value.items()}
    return value


def parse_json_body(body: bytes | str, *, what: str = "body") -> Any:
    """The one reader of JSON from outside: a request body, a websocket frame, JSON inside
    a provider's payload. Standard JSON only (RFC 8259), within limits:

    * not UTF-8, not JSON, ``NaN``/``Infinity``, or a number out of float range
      (``1e400``) → ``RequestRejected`` 400 ``malformed_json``;
    * nested more than ``MAX_JSON_DEPTH`` levels → 400 ``too_deep``;
    * a number of more than ``MAX_JSON_DIGITS`` digits → 400 ``number_too_long``.

    Every lone surrogate (``"\\ud800"``) in a string or key becomes U+FFFD.
    """
    if isinstance(body, bytes | bytearray):
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RequestRejected(400, "malformed_json", f"{what} is not UTF-8") from None
    else:
        text = body
    if too_deep(text):
        raise RequestRejected(400, "too_deep", f"{what} nests arrays and objects more than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except _NotJson as exc:
        raise RequestRejected(400, exc.code, f"{what} is not valid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RequestRejected(400, "malformed_json", f"{what} is not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:  # not expected after the checks above
        raise RequestRejected(400, "malformed_json", f"{what} is not valid JSON: {type(exc).__name__}") from None
    if _SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text):
        data = _cleaned(data)
    return data
