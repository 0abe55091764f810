"""Reading header values of real mail: encoded words, addresses, Message-IDs.

The standard library's decoders fail on common real-world mail: ``=?gb2312?B?...?=``
words carrying GBK characters, multi-byte characters split across two encoded words,
raw 8-bit GBK or UTF-8 bytes in headers, encoded words inside quoted display names.
This module reads the raw header text (as kept by the parser, with surrogate escapes
for 8-bit bytes) and decodes it with the charset rules of ``charsets``. Nothing it
returns holds a surrogate escape: addresses and Message-IDs written in raw 8-bit
(SMTPUTF8 mail: ``张三@例子.中国``) come back decoded, never as the escapes, which no
encoder takes.
"""

from __future__ import annotations

import base64
import binascii
import re
from email.utils import getaddresses, parseaddr

from gateway.channels.email.charsets import decode_bytes, surrogate_free, text_to_bytes

# The encoded text may hold spaces: mailers write ``=?UTF-8?Q? Personal=C3=A4nderung?=``
# and ``=?us-ascii?Q?ABC / 123?=``, and mail clients read them (RFC 2047 forbids it).
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_WHITESPACE = re.compile(r"\s+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_ADDR = re.compile(r"[^\s<>\"'(),;:@\[\]]+@[^\s<>\"'(),;:@\[\]]+\.[^\s<>\"'(),;:@\[\]]+")
_MSGID = re.compile(r"<([^<>\s]{1,500})>")
_BARE_MSGID = re.compile(r"[^\s<>,;\"]{1,500}@[^\s<>,;\"]{1,500}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MAX_REFERENCES = 50


def unfold(raw: str) -> str:
    return _FOLD.sub("", raw).replace("\r", "").replace("\n", " ")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            text = _WHITESPACE.sub("", text)
            padded = text + "=" * (-len(text) % 4)
            return base64.b64decode(padded, validate=False)
        data = text.replace("_", " ").encode("ascii", errors="surrogateescape")
        return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def decode_header_value(raw: str | None) -> str:
    """The readable text of a header value; never raises.

    Adjacent encoded words of one charset are joined as bytes before decoding, so a
    character split across two words survives; whitespace between encoded words is
    dropped (RFC 2047 §6.2); 8-bit bytes outside encoded words are decoded as text, and
    so is raw ISO-2022-JP (see ``charsets``).
    """
    if not raw:
        return ""
    value = unfold(str(raw))
    pieces: list[str] = []
    pending: bytes = b""
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            pieces.append(decode_bytes(pending, pending_charset))
        pending, pending_charset = b"", None

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        charset, encoding, text = match.group(1), match.group(2), match.group(3)
        data = _word_bytes(encoding, text)
        if data is None:
            continue  # left as literal text below
        if between and not (between.isspace() and pending_charset is not None):
            flush()
            pieces.append(decode_bytes(text_to_bytes(between)))
        charset_key = charset.split("*", 1)[0].lower()
        if pending_charset is not None and charset_key != pending_charset:
            flush()
        pending += data
        pending_charset = charset_key
        position = match.end()
    flush()
    pieces.append(decode_bytes(text_to_bytes(value[position:])))
    return _CONTROL.sub("", "".join(pieces)).strip()


def parse_address(raw: str | None) -> tuple[str | None, str | None]:
    """(display name, address) of the first address in a From-like header."""
    if not raw:
        return None, None
    value = unfold(str(raw))
    name, address = "", ""
    try:
        name, address = parseaddr(value)
    except Exception:  # the stdlib's parser has raised on hostile input before
        name, address = "", ""
    if "@" not in address:
        found = _ADDR.search(decode_header_value(value))
        address = found.group(0) if found else ""
        name = ""
    if not name:
        before = value.split("<", 1)[0] if "<" in value else ""
        name = before.strip().strip('"')
    display = decode_header_value(name).strip().strip('"').strip() or None
    return display, (surrogate_free(address.strip()) or None)


def parse_address_list(values: list[str]) -> list[str]:
    """Every address in To/Cc-like headers, in order."""
    found: list[str] = []
    unfolded = [unfold(str(v)) for v in values if v]
    try:
        pairs = getaddresses(unfolded)
    except Exception:
        pairs = []
    for _, address in pairs:
        if "@" in address:
            found.append(surrogate_free(address.strip()))
    if not found:
        for value in unfolded:
            found.extend(_ADDR.findall(decode_header_value(value)))
    return found


def message_ids(raw: str | None) -> list[str]:
    """Message-IDs in a header, without angle brackets, in the order written."""
    if not raw:
        return []
    value = unfold(str(raw))
    ids = _MSGID.findall(value) or _BARE_MSGID.findall(value)
    seen: list[str] = []
    for item in ids:
        item = surrogate_free(item.strip())
        if item and item not in seen:
            seen.append(item)
    return seen


def thread_references(in_reply_to: str | None, references: str | None) -> list[str]:
    """In-Reply-To first, then References newest first: the order threading tries them."""
    ordered: list[str] = []
    for item in [*message_ids(in_reply_to), *reversed(message_ids(references))]:
        if item not in ordered:
            ordered.append(item)
    return ordered[:MAX_REFERENCES]
