"""Outbound mail: composing a reply and handing it to the SMTP relay.

Relay answers decide retries: a 4xx or a broken connection is temporary (the outbound
service retries with backoff), a 5xx is final and its text becomes the message's error.

Internationalised mail (RFC 6531/6532): when the envelope sender or recipient, an address
in From/To/Cc/Reply-To/Sender, or a Message-ID in Message-ID/In-Reply-To/References is not
ASCII (a customer writing from ``张三@例子.中国``), the reply goes out with ``MAIL FROM:<…>
SMTPUTF8`` and its headers in raw UTF-8 — such an address has no ASCII form, and RFC 2047
encoded words are not allowed in an address or a Message-ID. A relay that does not
advertise SMTPUTF8 gets nothing (no MAIL command): the send fails as final, not retried,
with an error naming SMTPUTF8, since the relay's extensions do not change between retries.
Everything else (ASCII addresses and Message-IDs, whatever the display names, subject or
body hold) goes out exactly as before: 7-bit headers with encoded words, no SMTPUTF8.
"""

from __future__ import annotations

import html
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime

import aiosmtplib

from gateway.model import SendResult

# Every part 7-bit (quoted-printable or base64), so any relay takes it without 8BITMIME.
POLICY = SMTP.clone(cte_type="7bit")
# Internationalised mail: the same bodies, headers in raw UTF-8 (RFC 6532).
UTF8_POLICY = SMTPUTF8.clone(cte_type="7bit")
_ADDRESS_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc")
_MESSAGE_ID_HEADERS = ("Message-ID", "In-Reply-To", "References")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|答复|回复|回覆)\s*(\[\d+\])?\s*[:：]\s*)+", re.I)
MAX_REFERENCES = 20


# Characters that break a header line (Python's email splits on every one of them) or
# have no place in one: they become a space, runs of space one space.
_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]+")
_SPACES = re.compile(r"\s{2,}")
MAX_HEADER_TEXT = 500  # characters of a subject or display name we write


def header_text(value: str | None) -> str:
    """``value`` fit for a header we write: a customer's encoded Subject or From name may
    decode to line breaks and control characters, which would make every reply fail to
    compose (or, unchecked, inject headers). One line, trimmed, at most 500 characters."""
    if not value:
        return ""
    one_line = _SPACES.sub(" ", _HEADER_BREAKS.sub(" ", value)).strip()
    return one_line[:MAX_HEADER_TEXT]


def reply_subject(subject: str | None) -> str:
    """``Re: <subject>`` with any reply prefixes already there folded into one."""
    rest = _REPLY_PREFIX.sub("", header_text(subject)).strip()
    return f"Re: {rest}" if rest else "Re: your message"


def text_to_html(text: str) -> str:
    escaped = html.escape(text).replace("\r\n", "\n")
    paragraphs = [p.replace("\n", "<br>\n") for p in escaped.split("\n\n")]
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs if p.strip())
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body dir="auto">\n{body}\n</body></html>\n'


def _address(display_name: str | None, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=header_text(display_name), username=local, domain=domain)


@dataclass
class OutgoingAttachment:
    name: str
    content_type: str
    data: bytes


def compose(
    *,
    message_id: str,
    from_address: str,
    from_name: str | None,
    to_address: str,
    to_name: str | None,
    reply_to: str,
    subject: str | None,
    text: str,
    html_body: str | None,
    in_reply_to: str | None,
    references: list[str],
    automatic: bool,
    attachments: list[OutgoingAttachment] | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["Message-ID"] = f"<{message_id}>"
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["From"] = _address(from_name, from_address)
    msg["To"] = _address(to_name, to_address)
    msg["Reply-To"] = _address(from_name, reply_to)
    msg["Subject"] = reply_subject(subject)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    refs = references[-MAX_REFERENCES:]
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    if automatic:
        # RFC 3834: tells other machines not to answer; the Microsoft header asks
        # Exchange not to send out-of-office notices back.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html_body or text_to_html(text), subtype="html", charset="utf-8")
    for item in attachments or []:
        maintype, _, subtype = item.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(
            item.data, maintype=maintype, subtype=subtype, filename=header_text(item.name) or "attachment"
        )
    return msg


@dataclass
class RelaySettings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    use_tls: bool
    timeout: float
    validate_certs: bool = True
    ca_file: str | None = None

    def __repr__(self) -> str:
        return f"RelaySettings(host={self.host!r}, port={self.port}, starttls={self.starttls}, use_tls={self.use_tls})"


def _reason(code: int, message: str) -> str:
    return f"relay answered {code} {message.strip()}"[:500]


def smtputf8_reasons(msg: EmailMessage, *, sender: str, recipients: list[str]) -> list[str]:
    """Why ``msg`` must go out with SMTPUTF8: each envelope address, header address
    (addr-spec) or Message-ID header that is not ASCII; empty when none is. Non-ASCII
    display names, subjects and bodies do not count: encoded words and MIME carry them."""
    reasons: list[str] = []
    if not sender.isascii():
        reasons.append(f"sender address {sender}")
    reasons.extend(f"recipient address {r}" for r in recipients if not r.isascii())
    for name in _ADDRESS_HEADERS:
        for header in msg.get_all(name, []):
            for address in getattr(header, "addresses", ()):
                spec = address.addr_spec
                if not spec.isascii() and spec != sender and spec not in recipients:
                    reasons.append(f"{name} address {spec}")
    for name in _MESSAGE_ID_HEADERS:
        if any(not str(value).isascii() for value in msg.get_all(name, [])):
            reasons.append(f"Message-ID in {name}")
    return reasons


def flatten_utf8(msg: EmailMessage) -> bytes:
    """The message with its headers in raw UTF-8 (RFC 6532), bodies as composed."""
    return msg.as_bytes(policy=UTF8_POLICY)


async def _offers_smtputf8(client: aiosmtplib.SMTP) -> bool:
    if client.is_ehlo_or_helo_needed:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError as exc:
            if exc.code < 500:
                raise
            return False  # a HELO-only relay has no extensions
    return client.supports_extension("smtputf8")


async def deliver(msg: EmailMessage, *, sender: str, recipient: str, relay: RelaySettings) -> SendResult:
    """One attempt through the relay: ok, temporary (retryable) or final failure."""
    tls_context = None
    if relay.ca_file and (relay.starttls or relay.use_tls):
        tls_context = ssl.create_default_context(cafile=relay.ca_file)
    utf8_reasons = smtputf8_reasons(msg, sender=sender, recipients=[recipient])
    client = aiosmtplib.SMTP(
        hostname=relay.host,
        port=relay.port,
        username=relay.username or None,
        password=relay.password or None,
        start_tls=relay.starttls and not relay.use_tls,
        use_tls=relay.use_tls,
        validate_certs=relay.validate_certs,
        tls_context=tls_context,
        timeout=relay.timeout,
    )
    try:
        async with client:  # connects, STARTTLS / TLS and login as configured; QUIT at the end
            if not utf8_reasons:
                await client.send_message(msg, sender=sender, recipients=[recipient])
            else:
                if not await _offers_smtputf8(client):
                    return SendResult(
                        ok=False,
                        retryable=False,
                        error=(
                            "not sent: the relay does not support SMTPUTF8 (RFC 6531), which this mail needs "
                            f"for its non-ASCII {', '.join(utf8_reasons)}"
                        )[:500],
                    )
                options = ["SMTPUTF8"]
                if client.supports_extension("8bitmime"):
                    options.append("BODY=8BITMIME")  # the headers are 8-bit
                await client.sendmail(sender, [recipient], flatten_utf8(msg), mail_options=options)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        text = "; ".join(_reason(r.code, r.message) for r in exc.recipients)
        return SendResult(ok=False, retryable=any(400 <= c < 500 for c in codes), error=text[:500])
    except aiosmtplib.SMTPResponseException as exc:
        return SendResult(ok=False, retryable=400 <= exc.code < 500, error=_reason(exc.code, exc.message))
    except aiosmtplib.SMTPNotSupported as exc:
        return SendResult(ok=False, retryable=False, error=f"relay: {exc}"[:500])
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return SendResult(ok=False, retryable=True, error=f"relay unreachable: {type(exc).__name__}: {exc}"[:500])
    return SendResult(ok=True)
