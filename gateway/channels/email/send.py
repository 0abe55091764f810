"""Outbound mail: composing a reply and handing it to the SMTP relay.

Relay answers decide retries: a 4xx or a broken connection is temporary (the outbound
service retries with backoff), a 5xx is final and its text becomes the message's error.
"""

from __future__ import annotations

import html
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import aiosmtplib

from gateway.model import SendResult

# Every part 7-bit (quoted-printable or base64), so any relay takes it without 8BITMIME.
POLICY = SMTP.clone(cte_type="7bit")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|答复|回复|回覆)\s*(\[\d+\])?\s*[:：]\s*)+", re.I)
MAX_REFERENCES = 20


def reply_subject(subject: str | None) -> str:
    """``Re: <subject>`` with any reply prefixes already there folded into one."""
    rest = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {rest}" if rest else "Re: your message"


def text_to_html(text: str) -> str:
    escaped = html.escape(text).replace("\r\n", "\n")
    paragraphs = [p.replace("\n", "<br>\n") for p in escaped.split("\n\n")]
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs if p.strip())
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body dir="auto">\n{body}\n</body></html>\n'


def _address(display_name: str | None, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=display_name or "", username=local, domain=domain)


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
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.name)
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


async def deliver(msg: EmailMessage, *, sender: str, recipient: str, relay: RelaySettings) -> SendResult:
    """One attempt through the relay: ok, temporary (retryable) or final failure."""
    tls_context = None
    if relay.ca_file and (relay.starttls or relay.use_tls):
        tls_context = ssl.create_default_context(cafile=relay.ca_file)
    try:
        await aiosmtplib.send(
            msg,
            sender=sender,
            recipients=[recipient],
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
