"""The email channel: mail in over SMTP, replies out through a relay.

Inbound mail becomes one ``InboundMessage``: the sender's address is the contact's email
identity (so a web-chat visitor or API customer with that address is the same person),
threading goes by In-Reply-To, References, then a signed token (in our Message-IDs and
in the ``support+<token>@`` reply address), and loop-guarded mail is stored but not
routed — nor threaded into the customer's conversation, so an out-of-office notice
cannot reopen a resolved conversation and a bounce never becomes the address a reply
goes to. A bounce of one of our replies marks that reply failed.

A mail's ``external_id`` (the dedupe key) is its Message-ID followed by ``#`` and a
digest of the sender's address and the mail's ``fingerprint`` (what the sender wrote,
none of what servers on the way add): a redelivery of one mail is the same message, two
mails that share a Message-ID — contact-form scripts and badly configured mailers reuse
one such as ``<1@localhost>`` — are two. Threading still goes by the bare Message-ID.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from gateway.channels.base import ChannelAdapter, InboundSink, SendNotSupported
from gateway.channels.email import thread_context
from gateway.channels.email.attachments import AttachmentStore, masked_text_attachment
from gateway.channels.email.autoreply import AutoReplyLimiter
from gateway.channels.email.charsets import surrogate_free
from gateway.channels.email.guards import LOOP_GUARD, guard_flags
from gateway.channels.email.headers import message_ids
from gateway.channels.email.parse import ParsedMail, parse_mail
from gateway.channels.email.quotes import strip_quoted
from gateway.channels.email.send import OutgoingAttachment, RelaySettings, compose, deliver
from gateway.channels.email.smtp import InboundHandler, SmtpServer
from gateway.channels.email.tokens import ReplyTokens, derive_secret
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import (
    AUTO_FLAG,
    Attachment,
    Channel,
    DeliveryStatus,
    Identity,
    IdentityKind,
    InboundMessage,
    OutboundRequest,
    SendResult,
    ServiceUnavailable,
    StatusUpdate,
)

log = logging.getLogger(__name__)

MAX_EXTERNAL_ID = 512
DIGEST_CHARS = 32  # of the hex SHA-256 after the Message-ID in external_id: 128 bits
MAX_KEPT_REFERENCES = 20


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


class EmailChannel(ChannelAdapter):
    name: ClassVar[str] = "email"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.EMAIL,)

    def __init__(self, sink: InboundSink, *, smtp: Any, email: Any, fallback_secrets: list[str] | None = None) -> None:
        """``smtp`` and ``email`` are the ``smtp`` and ``channels.email`` config sections."""
        super().__init__(sink)
        self.address: str = email.address.strip().lower()
        self.domain = self.address.rpartition("@")[2]
        self.from_name: str | None = getattr(email, "from_name", None)
        self.smtp_enabled: bool = bool(smtp.enabled)
        self.domains: list[str] = list(smtp.domains)
        self.tokens = ReplyTokens(derive_secret(_secret(email.reply_token_secret), fallback_secrets or []))
        root = Path(email.attachments_dir) if email.attachments_dir else None
        self.attachments = AttachmentStore(root, email.max_attachment_bytes)
        self.auto_replies = AutoReplyLimiter(
            limit=getattr(email, "auto_reply_limit", 3), window=getattr(email, "auto_reply_window", 3600.0)
        )
        relay = email.relay
        self.relay: RelaySettings | None = None
        if relay is not None:
            self.relay = RelaySettings(
                host=relay.host,
                port=relay.port,
                username=relay.username,
                password=_secret(relay.password),
                starttls=relay.starttls,
                use_tls=relay.use_tls,
                timeout=relay.timeout,
                validate_certs=getattr(relay, "validate_certs", True),
                ca_file=str(relay.ca_file) if getattr(relay, "ca_file", None) else None,
            )
        self.server = SmtpServer(
            InboundHandler(domains=self.domains, on_mail=self.receive),
            host=smtp.host,
            port=smtp.port,
            max_bytes=smtp.max_message_bytes,
            hostname=smtp.hostname or (self.domains[0] if self.domains else "localhost"),
        )

    def __repr__(self) -> str:
        return f"EmailChannel(address={self.address!r}, relay={self.relay!r})"

    @property
    def can_send(self) -> bool:  # type: ignore[override]
        return self.relay is not None

    @property
    def smtp_port(self) -> int | None:
        """The port the SMTP server is bound to (useful when configured as 0)."""
        return self.server.port

    async def start(self, http: aiohttp.ClientSession) -> None:
        await super().start(http)
        if self.smtp_enabled:
            await self.server.start()

    async def shutdown(self) -> None:
        self.server.stop_accepting()

    async def stop(self) -> None:
        await self.server.stop()

    # inbound -----------------------------------------------------------------------

    async def receive(self, raw: bytes, envelope_sender: str | None, recipients: list[str]) -> str:
        """One mail off the wire: parse, keep attachments, store; returns a reference for
        the ``250`` line. Raises ``ServiceUnavailable`` when it cannot be stored."""
        # CPU-bound for large or deeply nested mail: off the event loop.
        mail = await asyncio.to_thread(parse_mail, raw)
        # The SMTP server keeps 8-bit bytes of MAIL FROM / RCPT TO that are not UTF-8 as
        # surrogate escapes; they would fail storing the mail like those of headers.
        if envelope_sender is not None:
            envelope_sender = surrogate_free(envelope_sender)
        recipients = [surrogate_free(r) for r in recipients]
        flags = guard_flags(
            mail.headers,
            content_type=mail.content_type,
            envelope_sender=envelope_sender,
            from_address=mail.from_address,
        )
        if mail.report is not None and "bounce" not in flags:
            flags.append("bounce")
        attachments, skipped = await self._keep_attachments(mail)
        message = self.inbound_message(
            mail,
            envelope_sender=envelope_sender,
            recipients=recipients,
            flags=flags,
            attachments=attachments,
            skipped=skipped,
        )
        result = await self.sink.accept(message)
        if mail.report is not None and mail.report.failed:
            await self._mark_bounced(mail)
        log.info(
            "mail stored",
            extra={
                "conversation_id": result.conversation_id,
                "message_id": result.message_id,
                "duplicate": result.duplicate,
                "flags": flags,
            },
        )
        return f"queued as {result.message_id}"

    async def _mark_bounced(self, mail: ParsedMail) -> None:
        assert mail.report is not None
        for original in mail.report.original_message_ids:
            if self.tokens.conversation_from_message_id(original) is None:
                continue  # not one of ours (or forged): nothing of ours to mark
            await self.sink.accept_status(
                StatusUpdate(
                    channel=Channel.EMAIL,
                    external_id=original,
                    status=DeliveryStatus.FAILED,
                    error=f"bounced: {mail.report.diagnostic}"[:500],
                    at=mail.date,
                )
            )

    async def _keep_attachments(self, mail: ParsedMail) -> tuple[list[Attachment], list[str]]:
        kept: list[Attachment] = []
        skipped: list[str] = []
        for item in mail.attachments:
            key = None
            data = item.data
            if self.attachments.enabled:
                if self.attachments.fits(item.size):
                    data = masked_text_attachment(item.data, item.content_type, item.charset)
                    try:
                        key = await self.attachments.save(data)
                    except OSError as exc:
                        raise ServiceUnavailable(f"attachment storage failed: {type(exc).__name__}") from exc
                else:
                    skipped.append(f"{item.name}: {item.size} bytes is over the {self.attachments.max_bytes} limit")
            kept.append(Attachment(content_type=item.content_type, name=item.name, size=len(data), storage_key=key))
        return kept, skipped

    def _sender(self, mail: ParsedMail, envelope_sender: str | None, flags: list[str]) -> Identity:
        for candidate in (mail.from_address, envelope_sender):
            # An address with bytes that could not be read (U+FFFD) is no identity: two
            # different people's addresses could read the same.
            if candidate and candidate.strip("<> ") and "\ufffd" not in candidate:
                try:
                    return make_identity(IdentityKind.EMAIL, candidate)
                except InvalidIdentity:
                    continue
        # No usable address: a contact of its own (never merged with other unknowns, the
        # same for a redelivery), not routed.
        flags.extend(f for f in (LOOP_GUARD, "no-sender") if f not in flags)
        return Identity(kind=IdentityKind.EMAIL, value=f"unknown-{mail.fingerprint[:16]}@invalid")

    @staticmethod
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

    def _endpoint(self, recipients: list[str]) -> str:
        for address in recipients:
            local, _, domain = address.strip().lower().rpartition("@")
            if domain in self.domains:
                return f"{local.split('+', 1)[0]}@{domain}"
        return self.address

    def _thread_conversation(self, mail: ParsedMail, recipients: list[str]) -> str | None:
        for ref in mail.thread_refs:
            found = self.tokens.conversation_from_message_id(ref)
            if found:
                return found
        for address in [*recipients, *mail.to, *mail.cc, *mail.delivered_to]:
            found = self.tokens.conversation_from_address(address)
            if found:
                return found
        return None

    def inbound_message(
        self,
        mail: ParsedMail,
        *,
        envelope_sender: str | None,
        recipients: list[str],
        flags: list[str],
        attachments: list[Attachment],
        skipped: list[str] | None = None,
    ) -> InboundMessage:
        sender = self._sender(mail, envelope_sender, flags)
        external_id = self.dedupe_key(mail, sender)
        routed = not flags
        agent_text = strip_quoted(mail.text)
        references = message_ids(" ".join(mail.headers.get("references", [])))
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
        if agent_text != mail.text.strip():
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
        for name in ("auto-submitted", "precedence", "list-id"):
            value = mail.header(name)
            if value:
                details[name] = value[:200]
        conversation_attributes: dict[str, Any] = {}
        if routed and mail.message_id:
            conversation_attributes = {thread_context.ATTRIBUTE: thread_context.encode(mail.message_id, references)}
        return InboundMessage(
            channel=Channel.EMAIL,
            external_id=external_id,
            endpoint=self._endpoint(recipients),
            sender=sender,
            sender_name=mail.from_name,
            text=agent_text,
            html=mail.html,
            subject=mail.subject,
            attachments=attachments,
            provider_ts=mail.date,
            language_hint=mail.language,
            conversation_attributes=conversation_attributes,
            thread_refs=mail.thread_refs if routed else [],
            thread_conversation_id=self._thread_conversation(mail, recipients) if routed else None,
            own_thread_ids=[mail.message_id] if mail.message_id else [],
            flags=flags,
            route=routed,
            meta={"email": details},
        )

    # outbound ----------------------------------------------------------------------

    def auto_reply_allowed(self, address: str, inbound_flags: list[str] | tuple[str, ...] = ()) -> bool:
        """Whether an automatic message (acknowledgement, FAQ answer, rating request) may
        go to ``address`` now, in answer to a message with ``inbound_flags``. Send such
        messages with the ``auto`` flag; ``send`` enforces the same limit."""
        return self.auto_replies.would_allow(address, inbound_flags)

    async def _outgoing_attachments(self, request: OutboundRequest) -> tuple[list[OutgoingAttachment], list[str]]:
        """Stored attachments go along as files, URL attachments as links in the text; one
        that is neither cannot go out and fails the send (``ValueError``)."""
        files: list[OutgoingAttachment] = []
        links: list[str] = []
        for item in request.message.attachments:
            name = item.name or "attachment"
            data = await self.attachments.load(item.storage_key) if item.storage_key else None
            if data is not None:
                files.append(OutgoingAttachment(name=name, content_type=item.content_type, data=data))
            elif item.url:
                links.append(f"{name}: {item.url}")
            else:
                raise ValueError(f"attachment {name!r} has no stored content or URL to send by email")
        return files, links

    async def send(self, request: OutboundRequest) -> SendResult:
        if self.relay is None:
            raise SendNotSupported("channels.email.relay is not configured, so replies cannot be sent")
        message, conv, recipient = request.message, request.conversation, request.recipient
        if recipient.kind is not IdentityKind.EMAIL:
            return SendResult(
                ok=False, retryable=False, error=f"recipient {recipient.kind.value} is not an email address"
            )
        automatic = AUTO_FLAG in message.flags
        our_id = self.tokens.message_id(message.id, conv.id, self.domain)
        try:
            files, links = await self._outgoing_attachments(request)
        except ValueError as exc:
            return SendResult(ok=False, retryable=False, error=str(exc)[:500])
        text = message.text
        if links:
            text = (text.rstrip() + "\n\n" if text.strip() else "") + "\n".join(links)
        in_reply_to, references = thread_context.decode(conv.attributes.get(thread_context.ATTRIBUTE))
        if in_reply_to is None:  # a conversation from before this was kept: what storage knows
            references = list(request.thread_ids)
            in_reply_to = references[-1] if references else None
        try:
            mail = compose(
                message_id=our_id,
                from_address=self.address,
                from_name=self.from_name,
                to_address=recipient.value,
                to_name=request.contact_name or None,
                reply_to=self.tokens.reply_address(self.address, conv.id),
                subject=conv.subject,
                text=text,
                html_body=message.html if not links else None,
                in_reply_to=in_reply_to,
                references=references,
                automatic=automatic,
                attachments=files,
            )
        except (ValueError, TypeError, IndexError) as exc:
            return SendResult(ok=False, retryable=False, error=f"cannot compose the mail: {exc}"[:500])
        if automatic and not self.auto_replies.acquire(recipient.value, message.id):
            return SendResult(
                ok=False,
                retryable=False,
                error=f"automatic reply not sent: limit of {self.auto_replies.limit} per "
                f"{int(self.auto_replies.window)} s for this address reached, or a system address",
            )
        result = await deliver(mail, sender=self.address, recipient=recipient.value, relay=self.relay)
        if not result.ok:
            return result
        return SendResult(ok=True, external_id=our_id, meta={"message_id": our_id})
