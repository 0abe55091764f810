"""Raw RFC 5322 bytes → what the gateway keeps of a mail. Pure; never raises.

The structure comes from the standard library (``email.policy.default``) once the header
block is mended the way robust mail readers read it (``header_repair``); header values
and text bodies are decoded here (see ``headers`` and ``charsets``) because the
library's own decoding loses text on mislabelled Chinese mail; the body is read as a
mail client shows it (``body``). Whatever cannot be read is recorded as a defect and
the rest is kept: a malformed mail is still a customer writing to us.
"""

from __future__ import annotations

import dataclasses
import email
import email.message
import email.policy
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from gateway.channels.email.body import MAX_DEPTH, MAX_PARTS, ParsedAttachment, read_body
from gateway.channels.email.charsets import CHINESE_CODECS, decode_bytes, surrogate_free
from gateway.channels.email.guards import DeliveryReport, delivery_report
from gateway.channels.email.header_repair import repair_headers
from gateway.channels.email.headers import (
    decode_header_value,
    message_ids,
    parse_address,
    parse_address_list,
    thread_references,
)

__all__ = ["MAX_DEPTH", "MAX_PARTS", "ParsedAttachment", "ParsedMail", "fingerprint", "parse_mail"]

# The library's parser costs (nesting depth × lines): a few dozen kilobytes of crafted
# nesting take seconds of CPU. Mail declaring more multipart boundaries than any real
# client writes is read the simple way instead (headers, text, and the raw mail kept).
MAX_BOUNDARIES = 32
_BOUNDARY = re.compile(rb"boundary\s*=", re.I)
MAX_TEXT_CHARS = 100_000
MAX_HTML_CHARS = 500_000


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
        mended, notes = repair_headers(raw)
        msg = email.message_from_bytes(mended, policy=email.policy.default)
        mail = ParsedMail(defects=notes)
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
    mail.from_name, mail.from_address = _sender(raw("from") or [], raw("sender") or [])
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


def _sender(froms: list[str], senders: list[str]) -> tuple[str | None, str | None]:
    """The first From (else Sender) with a usable address: mail with two From headers
    (a list server's and the author's, or an empty ``From: <>`` before the real one) is
    read as mail clients read it — by the address that can be answered."""
    first: tuple[str | None, str | None] = (None, None)
    for value in [*froms, *senders]:
        name, address = parse_address(value)
        if address and "\ufffd" not in address:
            return name, address
        if first == (None, None):
            first = (name, address)
    return first


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


def _read_body(mail: ParsedMail, msg: email.message.Message) -> None:
    body = read_body(msg)
    mail.text, mail.html, mail.text_from_html = body.text, body.html, body.text_from_html
    mail.attachments.extend(body.attachments)
    mail.charsets.extend(body.charsets)
    mail.defects.extend(body.defects)
    mail.truncated = mail.truncated or body.truncated


def _lf(text: str) -> str:
    """Line ends as ``\\n``: a mail relayed with bare LF is the same mail as with CRLF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _finish(mail: ParsedMail) -> None:
    mail.text = _lf(mail.text).replace("\x00", "")
    if mail.html is not None:
        mail.html = _lf(mail.html).replace("\x00", "")
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
    Delivered-To, DKIM and spam headers) or changes (transfer encoding, CRLF or bare-LF
    line ends): every delivery of one mail has the same fingerprint, two mails that
    merely share a Message-ID do not."""
    attachments = []
    for item in mail.attachments:
        # Line ends as the sender wrote them may reach us as CRLF or bare LF (text parts
        # in 7bit or quoted-printable): hashed alike.
        data = item.data.replace(b"\r\n", b"\n")
        if item.whole_mail:  # its headers are the server's as much as the sender's
            data = data.partition(b"\n\n")[2]
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
