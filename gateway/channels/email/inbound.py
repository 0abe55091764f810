"""The parse step's second half: a parsed mail → what the ``InboundMessage`` says about
its sender, its dedupe key and its details for the agent. Pure.

A mail's ``external_id`` (the dedupe key) is its Message-ID followed by ``#`` and a
digest of the sender's address and the mail's ``fingerprint`` (what the sender wrote,
none of what servers on the way add): a redelivery of one mail is the same message, two
mails that share a Message-ID — contact-form scripts and badly configured mailers reuse
one such as ``<1@localhost>`` — are two. Threading still goes by the bare Message-ID.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.channels.email.guards import LOOP_GUARD
from gateway.channels.email.parse import ParsedMail
from gateway.channels.fields import MAX_EXTERNAL_ID
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Identity, IdentityKind

DIGEST_CHARS = 32  # of the hex SHA-256 after the Message-ID in external_id: 128 bits
MAX_KEPT_REFERENCES = 20
KEPT_HEADERS = ("auto-submitted", "precedence", "list-id")


def sender_identity(mail: ParsedMail, envelope_sender: str | None, flags: list[str]) -> Identity:
    """From, else the envelope sender; without a usable address, a contact of its own
    (never merged with other unknowns, the same for a redelivery), flagged not to route."""
    for candidate in (mail.from_address, envelope_sender):
        # An address with bytes that could not be read (U+FFFD) is no identity: two
        # different people's addresses could read the same.
        if candidate and candidate.strip("<> ") and "\ufffd" not in candidate:
            try:
                return make_identity(IdentityKind.EMAIL, candidate)
            except InvalidIdentity:
                continue
    flags.extend(f for f in (LOOP_GUARD, "no-sender") if f not in flags)
    return Identity(kind=IdentityKind.EMAIL, value=f"unknown-{mail.fingerprint[:16]}@invalid")


def dedupe_key(mail: ParsedMail, sender: Identity) -> str:
    """The ``external_id`` of a mail: ``<Message-ID>#<digest>``, or ``sha256:<digest>``
    without a Message-ID. The digest covers the sender's address and the mail's
    fingerprint, so a redelivery (other Received headers, other envelope) is a
    duplicate and another mail under a reused Message-ID is not."""
    digest = hashlib.sha256(f"{sender.value}\n{mail.fingerprint}".encode()).hexdigest()
    if not mail.message_id:
        return "sha256:" + digest
    message_id = mail.message_id
    if len(message_id) + 1 + DIGEST_CHARS > MAX_EXTERNAL_ID:
        message_id = "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return f"{message_id}#{digest[:DIGEST_CHARS]}"


def mail_details(
    mail: ParsedMail,
    *,
    envelope_sender: str | None,
    recipients: list[str],
    references: list[str],
    agent_text: str,
    skipped: list[str] | None,
) -> dict[str, Any]:
    """``meta.email``: the envelope, addresses and threading headers, and what parsing
    noticed (the full text when quotes were cut, defects, a delivery report)."""
    details: dict[str, Any] = {
        "message_id": mail.message_id,
        "envelope_from": envelope_sender,
        "envelope_to": recipients,
        "to": mail.to,
        "cc": mail.cc,
        "in_reply_to": mail.in_reply_to,
        "references": references[-MAX_KEPT_REFERENCES:],
        "content_type": mail.content_type,
    }
    if mail.text.strip() and agent_text != mail.text.strip():
        details["full_text"] = mail.text
    if mail.text_from_html:
        details["text_from_html"] = True
    if mail.defects:
        details["defects"] = mail.defects[:20]
    if mail.truncated:
        details["truncated"] = True
    if skipped:
        details["attachments_not_kept"] = skipped
    if mail.report is not None:
        details["delivery_report"] = {
            "action": mail.report.action,
            "diagnostic": mail.report.diagnostic,
            "recipients": mail.report.recipients[:20],
            "original_message_ids": mail.report.original_message_ids[:20],
        }
    for name in KEPT_HEADERS:
        value = mail.header(name)
        if value:
            details[name] = value[:200]
    return details
