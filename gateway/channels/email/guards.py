"""Loop guards: mail that no machine of ours may answer, and bounces of our own replies.

Auto-replies, bounces, mailing-list traffic and mailer-daemons are stored (an agent may
want to read them) but flagged and never offered to agents as new work; answering them
automatically starts mail loops (RFC 3834; docs/channels/email.md, "Loop guards").
"""

from __future__ import annotations

import email.message
import re
from dataclasses import dataclass, field

from gateway.channels.email.headers import decode_header_value, message_ids
from gateway.model import LOOP_GUARD_FLAG

LOOP_GUARD = LOOP_GUARD_FLAG  # on every flagged message, whatever the reason

# Not noreply@: contact forms send customers' messages from such addresses.
_SYSTEM_LOCAL = re.compile(r"^(mailer-daemon|postmaster|owner-.+|.+-request|.+-owner)$", re.I)


def is_system_address(address: str | None) -> bool:
    """Addresses that belong to mail software, not people (never auto-answered)."""
    if not address or "@" not in address:
        return False
    local = address.rsplit("@", 1)[0].strip().strip("<>").lower()
    return bool(_SYSTEM_LOCAL.match(local))


def guard_flags(
    headers: dict[str, list[str]], *, content_type: str, envelope_sender: str | None, from_address: str | None
) -> list[str]:
    """The loop-guard flags of one message; ``headers`` maps lower-case names to raw values."""

    def first(name: str) -> str:
        values = headers.get(name)
        return decode_header_value(values[0]).strip().lower() if values else ""

    flags: list[str] = []
    auto_submitted = first("auto-submitted")
    if auto_submitted and auto_submitted.split(";", 1)[0].strip() != "no":
        flags.append("auto-submitted")
    sender = (envelope_sender or "").strip()
    return_path = first("return-path")
    null_envelope = envelope_sender is not None and sender in ("", "<>")
    if null_envelope or return_path.replace(" ", "") == "<>":
        flags.append("null-sender")
    if content_type == "multipart/report":
        flags.append("report")
    if first("precedence") in ("bulk", "junk", "list"):
        flags.append("precedence-" + first("precedence"))
    if any(name.startswith("list-") for name in headers):
        flags.append("mailing-list")
    if "x-autoreply" in headers or "x-autorespond" in headers or "x-autoresponder" in headers:
        flags.append("x-autoreply")
    if is_system_address(from_address) or is_system_address(sender):
        flags.append("system-sender")
    if flags:
        flags.insert(0, LOOP_GUARD)
    return flags


@dataclass
class DeliveryReport:
    """What a DSN (RFC 3464) says about the message it reports on."""

    action: str  # failed | delayed | delivered | relayed | expanded
    diagnostic: str
    recipients: list[str] = field(default_factory=list)
    original_message_ids: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.action == "failed"


_ACTION_RANK = {"failed": 0, "delayed": 1, "relayed": 2, "expanded": 3, "delivered": 4}


def _field(block: email.message.Message, name: str) -> str:
    value = block.get(name)
    return " ".join(decode_header_value(str(value)).split()) if value is not None else ""


def delivery_report(msg: email.message.Message) -> DeliveryReport | None:
    """The DSN carried by a ``multipart/report; report-type=delivery-status``, if any."""
    if msg.get_content_type() != "multipart/report":
        return None
    report_type = str(msg.get_param("report-type", "") or "").lower()
    status_parts = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
    if report_type != "delivery-status" and not status_parts:
        return None
    action, diagnostics, recipients = "", [], []
    for part in status_parts:
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for block in blocks:  # the per-message block has no Action and is skipped
            if not isinstance(block, email.message.Message):
                continue
            this_action = _field(block, "Action").lower().strip()
            if not this_action:
                continue
            recipient = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
            recipient = recipient.split(";", 1)[-1].strip()
            status = _field(block, "Status")
            diagnostic = _field(block, "Diagnostic-Code").split(";", 1)[-1].strip()
            if not action or _ACTION_RANK.get(this_action, 9) < _ACTION_RANK.get(action, 9):
                action = this_action
            if this_action == "failed" or not diagnostics:
                text = diagnostic or (f"status {status}" if status else this_action)
                diagnostics.append(f"{recipient}: {text}" if recipient else text)
            if recipient:
                recipients.append(recipient)
    return DeliveryReport(
        action=action or "unknown",
        diagnostic="; ".join(diagnostics)[:500] or "delivery failed",
        recipients=recipients,
        original_message_ids=_original_ids(msg),
    )


def _original_ids(msg: email.message.Message) -> list[str]:
    """Message-IDs of the returned message (its message/rfc822 part or its headers)."""
    found: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        headers: email.message.Message | None = None
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
                headers = payload[0]
        elif kind in ("text/rfc822-headers", "message/global-headers"):
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                headers = email.message_from_bytes(raw)
        if headers is not None:
            for value in headers.get_all("Message-ID") or []:
                for item in message_ids(str(value)):
                    if item not in found:
                        found.append(item)
    return found
