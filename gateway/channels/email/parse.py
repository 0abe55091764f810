"""Raw RFC 5322 bytes → what the gateway keeps of a mail. Pure; never raises.

The structure comes from the standard library (``email.policy.default``); header values
and text bodies are decoded here (see ``headers`` and ``charsets``) because the
library's own decoding loses text on mislabelled Chinese mail. Whatever cannot be read
is recorded as a defect and the rest is kept: a malformed mail is still a customer
writing to us.
"""

from __future__ import annotations

import dataclasses
import email
import email.message
import email.policy
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.utils import parsedate_to_datetime

from gateway.channels.email.charsets import CHINESE_CODECS, decode_bytes, normalize_charset, surrogate_free
from gateway.channels.email.guards import DeliveryReport, delivery_report
from gateway.channels.email.headers import (
    decode_header_value,
    message_ids,
    parse_address,
    parse_address_list,
    thread_references,
)
from gateway.channels.email.html_text import html_to_text

MAX_PARTS = 500  # a mail with more MIME parts than this is cut short, not refused
MAX_DEPTH = 64
# The library's parser costs (nesting depth × lines): a few dozen kilobytes of crafted
# nesting take seconds of CPU. Mail declaring more multipart boundaries than any real
# client writes is read the simple way instead (headers, text, and the raw mail kept).
MAX_BOUNDARIES = 32
_BOUNDARY = re.compile(rb"boundary\s*=", re.I)
MAX_TEXT_CHARS = 100_000
MAX_HTML_CHARS = 500_000
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


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
class ParsedMail:
    """Everything read from one mail; fields are empty when the mail lacked them."""

    message_id: str | None = None
    from_name: str | None = None
    from_address: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    subject: str | None = None
    date: datetime | None = None
    thread_refs: list[str] = field(default_factory=list)
    in_reply_to: list[str] = field(default_factory=list)
    text: str = ""
    html: str | None = None
    text_from_html: bool = False
    attachments: list[ParsedAttachment] = field(default_factory=list)
    content_type: str = "text/plain"
    # lower-case name → values as written: encoded words left as they are, 8-bit bytes decoded
    headers: dict[str, list[str]] = field(default_factory=dict)
    language: str | None = None
    charsets: list[str] = field(default_factory=list)
    report: DeliveryReport | None = None
    defects: list[str] = field(default_factory=list)
    truncated: bool = False
    # What the sender wrote (see ``fingerprint``): equal for every delivery of one mail.
    fingerprint: str = ""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return decode_header_value(values[0]) if values else None


def parse_mail(raw: bytes) -> ParsedMail:
    """Read a mail as well as it can be read. Never raises."""
    if len(_BOUNDARY.findall(raw)) > MAX_BOUNDARIES:
        return _fallback(raw, f"more than {MAX_BOUNDARIES} MIME boundaries")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        mail = ParsedMail()
        _read_headers(mail, msg)
        _read_body(mail, msg)
        mail.defects.extend(_library_defects(msg))
        try:
            mail.report = delivery_report(msg)
        except Exception as exc:
            mail.defects.append(f"delivery report unreadable: {type(exc).__name__}")
        _finish(mail)
        return mail
    except Exception as exc:  # RecursionError on absurd nesting, library bugs on hostile input
        return _fallback(raw, f"{type(exc).__name__} while parsing")


def _read_headers(mail: ParsedMail, msg: email.message.Message) -> None:
    for name, value in msg.raw_items():
        mail.headers.setdefault(name.strip().lower(), []).append(str(value))
    raw = mail.headers.get
    mail.from_name, mail.from_address = parse_address(_first(raw("from")) or _first(raw("sender")))
    mail.to = parse_address_list(raw("to") or [])
    mail.cc = parse_address_list(raw("cc") or [])
    mail.delivered_to = parse_address_list(
        (raw("delivered-to") or []) + (raw("x-original-to") or []) + (raw("envelope-to") or [])
    )
    subject = _first(raw("subject"))
    mail.subject = decode_header_value(subject) if subject is not None else None
    ids = message_ids(_first(raw("message-id")))
    mail.message_id = ids[0] if ids else None
    mail.in_reply_to = message_ids(_first(raw("in-reply-to")))
    mail.thread_refs = thread_references(_first(raw("in-reply-to")), " ".join(raw("references") or []))
    date = _first(raw("date"))
    if date:
        try:
            parsed = parsedate_to_datetime(decode_header_value(date))
            mail.date = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            mail.defects.append("unreadable Date header")
    language = _first(raw("content-language"))
    if language:
        mail.language = decode_header_value(language).split(",")[0].strip()[:16] or None
    try:
        mail.content_type = msg.get_content_type()
    except Exception:
        mail.defects.append("unreadable Content-Type")


def _library_defects(msg: email.message.Message) -> list[str]:
    found: list[str] = []
    for part in msg.walk():
        for defect in getattr(part, "defects", []):
            name = type(defect).__name__
            if name not in found:
                found.append(name)
    return found[:20]


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


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
    disposition = part.get_content_disposition()
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


def _read_body(mail: ParsedMail, msg: email.message.Message) -> None:
    """Every leaf part into the text, the HTML or the attachments."""
    plain: list[str] = []
    html: list[str] = []
    for part, kind in _leaf_parts(mail, msg):
        _read_part(mail, part, kind, html if kind == "text/html" else plain)
    mail.html = "\n".join(html) if html else None
    if plain:
        mail.text = "\n".join(t.strip("\n") for t in plain)
    elif mail.html:
        mail.text = html_to_text(mail.html)
        mail.text_from_html = True


def _leaf_parts(mail: ParsedMail, msg: email.message.Message) -> Iterator[tuple[email.message.Message, str]]:
    """The parts that are not containers, in order, with their content type; at most
    ``MAX_PARTS`` parts and ``MAX_DEPTH`` levels (noted as defects beyond them)."""
    stack: list[tuple[email.message.Message, int]] = [(msg, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            mail.defects.append(f"more than {MAX_PARTS} MIME parts; the rest was skipped")
            mail.truncated = True
            return
        try:
            kind = part.get_content_type()
        except Exception:
            kind = "application/octet-stream"
        if part.is_multipart() and not kind.startswith("message/"):
            if depth >= MAX_DEPTH:
                mail.defects.append(f"MIME nesting deeper than {MAX_DEPTH}")
                continue
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, email.message.Message)
                )
            continue
        if kind == "message/delivery-status" or kind == "text/rfc822-headers":
            continue  # read by the delivery report; not body, not an attachment worth keeping
        yield part, kind


def _read_part(mail: ParsedMail, part: email.message.Message, kind: str, texts: list[str]) -> None:
    """One leaf part: an attachment, or text (decoded) added to ``texts``."""
    try:
        data = _payload_bytes(part)
    except Exception as exc:
        mail.defects.append(f"unreadable {kind} part: {type(exc).__name__}")
        return
    try:
        attachment = _is_attachment(part, kind)
    except Exception:
        attachment = True
    if attachment:
        mail.attachments.append(
            ParsedAttachment(
                name=_attachment_name(part, kind, len(mail.attachments) + 1),
                content_type=kind,
                data=data,
                inline=part.get_content_disposition() == "inline",
                charset=_charset_of(part),
            )
        )
        return
    label = _charset_of(part)
    codec = normalize_charset(label)
    if codec and codec not in mail.charsets:
        mail.charsets.append(codec)
    texts.append(decode_bytes(data, label))


def _finish(mail: ParsedMail) -> None:
    mail.text = mail.text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if mail.html is not None:
        mail.html = mail.html.replace("\x00", "")
    mail.fingerprint = fingerprint(mail)  # of the whole text, before it is cut short
    if len(mail.text) > MAX_TEXT_CHARS:
        mail.text = mail.text[:MAX_TEXT_CHARS]
        mail.truncated = True
    if mail.html is not None and len(mail.html) > MAX_HTML_CHARS:
        mail.html = mail.html[:MAX_HTML_CHARS]
        mail.truncated = True
    if mail.subject is not None:
        mail.subject = mail.subject[:998]
    if mail.language is None and any(c in CHINESE_CODECS for c in mail.charsets):
        mail.language = "zh"
    # The raw values were needed to read the fields above; from here on they are text.
    mail.headers = {name: [surrogate_free(v, readable=True) for v in values] for name, values in mail.headers.items()}
    _drop_surrogates(mail)


def _drop_surrogates(value: object) -> object:
    """``value`` with no surrogate escape left in any string, lists, dicts and dataclasses
    included (changed in place). The readers above decode what they take from headers;
    this is the guarantee for whatever a future reader forgets: a surrogate cannot be
    encoded, so storing the mail would fail and the sender would retry until it bounced."""
    if isinstance(value, str):
        return surrogate_free(value)
    if isinstance(value, list):
        value[:] = [_drop_surrogates(item) for item in value]
    elif isinstance(value, dict):
        cleaned = {_drop_surrogates(k): _drop_surrogates(v) for k, v in value.items()}
        value.clear()
        value.update(cleaned)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            current = getattr(value, item.name)
            cleaned = _drop_surrogates(current)
            if cleaned is not current:
                setattr(value, item.name, cleaned)
    return value


def fingerprint(mail: ParsedMail) -> str:
    """SHA-256 of what the sender wrote — Message-ID, From, Subject, Date, text, HTML and
    attachments — and of nothing a server on the way adds (Received, Return-Path,
    Delivered-To, DKIM and spam headers) or changes (transfer encoding, line ends): every
    delivery of one mail has the same fingerprint, two mails that merely share a
    Message-ID do not."""
    attachments = []
    for item in mail.attachments:
        data = item.data
        if item.whole_mail:  # its headers are the server's as much as the sender's
            data = data.replace(b"\r\n", b"\n").partition(b"\n\n")[2]
        attachments.append([item.name, item.content_type, hashlib.sha256(data).hexdigest()])
    date = mail.date.isoformat() if mail.date is not None else (mail.header("date") or "")
    written = [
        "email-fingerprint-1",
        mail.message_id,
        (mail.from_address or "").lower(),
        mail.from_name,
        mail.subject,
        date,
        mail.text,
        mail.html,
        attachments,
    ]
    # ASCII JSON: unambiguous, and it encodes whatever the strings hold.
    return hashlib.sha256(json.dumps(written, ensure_ascii=True).encode("ascii")).hexdigest()


def _fallback(raw: bytes, reason: str) -> ParsedMail:
    """Headers as far as they go, the rest as text, and the whole mail as an attachment so
    nothing is lost: for mail the library cannot take."""
    mail = ParsedMail(defects=[reason], truncated=True)
    mail.attachments.append(
        ParsedAttachment(name="original.eml", content_type="message/rfc822", data=raw, whole_mail=True)
    )
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    try:
        headers = email.message_from_bytes(head + b"\n\n", policy=email.policy.compat32)
        _read_headers(mail, headers)
    except Exception:
        pass
    mail.text = decode_bytes(body[: MAX_TEXT_CHARS * 4])
    _finish(mail)
    return mail
