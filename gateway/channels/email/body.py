"""A mail's MIME tree → the text an agent reads, the HTML, and the attachments.

The text carries the visible content of the whole mail, as a mail client shows it:

* ``multipart/alternative``: the sender's plain text, unless it is empty or a stub
  ("This is an HTML message", a lone signature) beside a much fuller HTML version —
  then the HTML, turned into readable text;
* every other multipart (``mixed``, ``related``, ``signed``, ``report`` …): the inline
  parts one after the other, in order — an HTML body followed by a plain-text signature
  part reads as both;
* parts that are attachments (by disposition, by a file name, or by a type that is not
  text) become attachments wherever they are.

At most ``MAX_PARTS`` parts and ``MAX_DEPTH`` levels are read (noted as defects beyond).
"""

from __future__ import annotations

import email.message
import email.policy
import io
import re
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from functools import cached_property

from gateway.channels.email.charsets import decode_bytes, normalize_charset
from gateway.channels.email.headers import decode_header_value
from gateway.channels.email.html_text import html_to_text

MAX_PARTS = 500  # a mail with more MIME parts than this is cut short, not refused
MAX_DEPTH = 64
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")
# Words, and CJK characters one by one (CJK text has no spaces between words).
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+")
# A plain alternative that says less than this share of the HTML version's words is a
# stub ("This is an HTML message", a lone greeting or signature).
STUB_SHARE = 0.5


@dataclass
class ParsedAttachment:
    name: str
    content_type: str
    data: bytes
    inline: bool = False
    charset: str | None = None  # the part's charset label, for text attachments
    whole_mail: bool = False  # the raw mail itself, kept by the fallback reader

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Piece:
    """One inline text part: plain text, or HTML (with its readable text)."""

    html: bool
    content: str

    @cached_property
    def text(self) -> str:
        return html_to_text(self.content) if self.html else self.content.strip("\r\n")


@dataclass
class Body:
    text: str = ""
    html: str | None = None
    text_from_html: bool = False
    attachments: list[ParsedAttachment] = field(default_factory=list)
    charsets: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    truncated: bool = False


def read_body(msg: email.message.Message) -> Body:
    """The text, HTML and attachments of a parsed mail."""
    walk = _Walk()
    pieces = walk.part(msg, 0)
    body = walk.body
    html = [p.content for p in walk.html_seen]
    body.html = "\n".join(html) if html else None
    body.text = "\n".join(t for t in (p.text for p in pieces) if t.strip())
    body.text_from_html = any(p.html for p in pieces)
    return body


class _Walk:
    def __init__(self) -> None:
        self.body = Body()
        self.seen = 0
        self.html_seen: list[Piece] = []  # every HTML part, chosen or not: the HTML kept

    def part(self, part: email.message.Message, depth: int) -> list[Piece]:
        """The visible pieces of ``part`` in reading order; its attachments kept."""
        self.seen += 1
        if self.seen > MAX_PARTS:
            if not self.body.truncated:
                self.body.defects.append(f"more than {MAX_PARTS} MIME parts; the rest was skipped")
                self.body.truncated = True
            return []
        kind = _content_type(part)
        if part.is_multipart() and not kind.startswith("message/"):
            if depth >= MAX_DEPTH:
                self.body.defects.append(f"MIME nesting deeper than {MAX_DEPTH}")
                return []
            children = [c for c in _children(part) if isinstance(c, email.message.Message)]
            if kind == "multipart/alternative":
                return _richest([self.part(child, depth + 1) for child in children])
            return [piece for child in children for piece in self.part(child, depth + 1)]
        if kind in ("message/delivery-status", "text/rfc822-headers"):
            return []  # read by the delivery report; not body, not an attachment worth keeping
        return self.leaf(part, kind)

    def leaf(self, part: email.message.Message, kind: str) -> list[Piece]:
        try:
            data = _payload_bytes(part)
        except Exception as exc:
            self.body.defects.append(f"unreadable {kind} part: {type(exc).__name__}")
            return []
        try:
            attachment = _is_attachment(part, kind)
        except Exception:
            attachment = True
        if attachment:
            self.body.attachments.append(
                ParsedAttachment(
                    name=_attachment_name(part, kind, len(self.body.attachments) + 1),
                    content_type=kind,
                    data=data,
                    inline=_disposition(part) == "inline",
                    charset=_charset_of(part),
                )
            )
            return []
        label = _charset_of(part)
        codec = normalize_charset(label)
        if codec and codec not in self.body.charsets:
            self.body.charsets.append(codec)
        piece = Piece(html=kind == "text/html", content=decode_bytes(data, label))
        if piece.html:
            self.html_seen.append(piece)
        return [piece]


def _richest(alternatives: list[list[Piece]]) -> list[Piece]:
    """The alternative to read: the plain one, unless it is empty or a stub beside a fuller
    HTML one (the last HTML alternative, the sender's preferred): one that holds less
    than ``STUB_SHARE`` of the HTML's words."""
    readable = [alt for alt in alternatives if any(p.text.strip() for p in alt)]
    if not readable:
        return []
    plain = next((alt for alt in readable if not any(p.html for p in alt)), None)
    rich = next((alt for alt in reversed(readable) if any(p.html for p in alt)), None)
    if plain is None or rich is None:
        return plain or rich or readable[-1]
    rich_words = _words(rich)
    if rich_words and len(_words(plain) & rich_words) < STUB_SHARE * len(rich_words):
        return rich
    return plain


def _words(pieces: list[Piece]) -> set[str]:
    return {word for p in pieces for word in _TOKEN.findall(p.text.lower())}


def _content_type(part: email.message.Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _children(part: email.message.Message) -> list[object]:
    children = part.get_payload()
    return children if isinstance(children, list) else []


def _disposition(part: email.message.Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _charset_of(part: email.message.Message) -> str | None:
    try:
        value = part.get_param("charset")
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 form
        value = value[2]
    return str(value) if value else None


def _payload_bytes(part: email.message.Message) -> bytes:
    kind = part.get_content_type()
    if kind.startswith("message/") or part.is_multipart():
        buffer = io.BytesIO()
        inner = part.get_payload()
        target = inner[0] if isinstance(inner, list) and len(inner) == 1 else part
        BytesGenerator(buffer, mangle_from_=False, policy=email.policy.compat32).flatten(target)
        return buffer.getvalue()
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    text = part.get_payload()
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else b""


def _is_attachment(part: email.message.Message, kind: str) -> bool:
    disposition = _disposition(part)
    if disposition == "attachment":
        return True
    if kind not in ("text/plain", "text/html"):
        return True
    return bool(part.get_filename()) and disposition != "inline"


def _attachment_name(part: email.message.Message, kind: str, index: int) -> str:
    name = None
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        name = decode_header_value(str(name))
    elif kind in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        subject = inner[0].get("Subject") if isinstance(inner, list) and inner else None
        name = (decode_header_value(str(subject)) if subject else "message") + ".eml"
    if not name:
        extension = kind.split("/", 1)[-1].split("+", 1)[0] if "/" in kind else "bin"
        name = f"part-{index}.{extension[:10]}"
    name = _UNSAFE_NAME.sub("_", name).strip(" .") or f"part-{index}"
    return name[:255]
