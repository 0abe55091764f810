"""The email channel: mail in over SMTP, replies out through a relay.

Inbound mail becomes one ``InboundMessage``: the sender's address is the contact's email
identity (so a web-chat visitor or API customer with that address is the same person),
threading goes by In-Reply-To, References, then a signed token (in our Message-IDs and
in the ``support+<token>@`` reply address), and loop-guarded mail is stored but not
routed — nor threaded into the customer's conversation, so an out-of-office notice
cannot reopen a resolved conversation and a bounce never becomes the address a reply
goes to. A bounce of one of our replies marks that reply failed.

The steps: ``parse`` (raw mail → ``ParsedMail``) and ``inbound`` (→ what the message
says about its sender, dedupe key and details), then ``send`` (compose and relay).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from gateway.channels.base import ChannelAdapter, InboundSink, SendNotSupported, wrong_recipient
from gateway.channels.config import BuildContext, secret_text
from gateway.channels.email import thread_context
from gateway.channels.email.attachments import AttachmentStore, masked_text_attachment
from gateway.channels.email.autoreply import AutoReplyLimiter
from gateway.channels.email.charsets import surrogate_free
from gateway.channels.email.config import EmailChannelConfig, EmailSections, RelayConfig, SmtpConfig
from gateway.channels.email.guards import DeliveryReport, guard_flags
from gateway.channels.email.headers import message_ids
from gateway.channels.email.inbound import dedupe_key, mail_details, sender_identity
from gateway.channels.email.parse import ParsedMail, parse_mail
from gateway.channels.email.quotes import strip_quoted
from gateway.channels.email.send import OutgoingAttachment, RelaySettings, compose, deliver
from gateway.channels.email.smtp import InboundHandler, SmtpServer
from gateway.channels.email.tokens import ReplyTokens, derive_secret
from gateway.channels.kinds import attachment_lines
from gateway.model import (
    AUTO_FLAG,
    Attachment,
    Channel,
    DeliveryStatus,
    IdentityKind,
    InboundMessage,
    OutboundRequest,
    SendResult,
    ServiceUnavailable,
    StatusUpdate,
)

log = logging.getLogger(__name__)


def relay_settings(relay: RelayConfig) -> RelaySettings:
    return RelaySettings(
        host=relay.host,
        port=relay.port,
        username=relay.username,
        password=secret_text(relay.password),
        starttls=relay.starttls,
        use_tls=relay.use_tls,
        timeout=relay.timeout,
        validate_certs=relay.validate_certs,
        ca_file=str(relay.ca_file) if relay.ca_file else None,
    )


class EmailChannel(ChannelAdapter):
    name: ClassVar[str] = "email"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.EMAIL,)

    def __init__(
        self,
        sink: InboundSink,
        *,
        smtp: SmtpConfig,
        email: EmailChannelConfig,
        fallback_secrets: list[str] | None = None,
    ) -> None:
        super().__init__(sink)
        self.address: str = email.address.strip().lower()
        self.domain = self.address.rpartition("@")[2]
        self.from_name = email.from_name
        self.smtp_enabled: bool = bool(smtp.enabled)
        self.domains: list[str] = list(smtp.domains)
        self.tokens = ReplyTokens(derive_secret(secret_text(email.reply_token_secret), fallback_secrets or []))
        root = Path(email.attachments_dir) if email.attachments_dir else None
        self.attachments = AttachmentStore(root, email.max_attachment_bytes)
        self.auto_replies = AutoReplyLimiter(limit=email.auto_reply_limit, window=email.auto_reply_window)
        self.relay = relay_settings(email.relay) if email.relay is not None else None
        self.server = SmtpServer(
            InboundHandler(domains=self.domains, on_mail=self.receive),
            host=smtp.host,
            port=smtp.port,
            max_bytes=smtp.max_message_bytes,
            hostname=smtp.hostname or (self.domains[0] if self.domains else "localhost"),
            timeout=smtp.timeout,
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
            await self._mark_bounced(mail.report, at=mail.date)
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

    async def _mark_bounced(self, report: DeliveryReport, *, at: datetime | None) -> None:
        for original in report.original_message_ids:
            if self.tokens.conversation_from_message_id(original) is None:
                continue  # not one of ours (or forged): nothing of ours to mark
            await self.sink.accept_status(
                StatusUpdate(
                    channel=Channel.EMAIL,
                    external_id=original,
                    status=DeliveryStatus.FAILED,
                    error=f"bounced: {report.diagnostic}"[:500],
                    at=at,
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
        sender = sender_identity(mail, envelope_sender, flags)
        routed = not flags
        # A mail of attachments alone reads as lines naming them.
        agent_text = strip_quoted(mail.text) or attachment_lines(attachments)
        references = message_ids(" ".join(mail.headers.get("references", [])))
        details = mail_details(
            mail,
            envelope_sender=envelope_sender,
            recipients=recipients,
            references=references,
            agent_text=agent_text,
            skipped=skipped,
        )
        conversation_attributes: dict[str, Any] = {}
        if routed and mail.message_id:
            conversation_attributes = {thread_context.ATTRIBUTE: thread_context.encode(mail.message_id, references)}
        return InboundMessage(
            channel=Channel.EMAIL,
            external_id=dedupe_key(mail, sender),
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
        wrong = wrong_recipient(request, IdentityKind.EMAIL)
        if wrong:
            return wrong
        message, recipient = request.message, request.recipient
        automatic = AUTO_FLAG in message.flags
        our_id = self.tokens.message_id(message.id, request.conversation.id, self.domain)
        try:
            files, links = await self._outgoing_attachments(request)
        except ValueError as exc:
            return SendResult(ok=False, retryable=False, error=str(exc)[:500])
        try:
            mail = self._compose(request, our_id, files=files, links=links, automatic=automatic)
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

    def _compose(
        self,
        request: OutboundRequest,
        our_id: str,
        *,
        files: list[OutgoingAttachment],
        links: list[str],
        automatic: bool,
    ) -> EmailMessage:
        """The reply as a mail from our address, links to URL attachments after the text,
        threaded under the conversation's mails."""
        message, conv = request.message, request.conversation
        text = message.text
        if links:
            text = (text.rstrip() + "\n\n" if text.strip() else "") + "\n".join(links)
        in_reply_to, references = thread_context.decode(conv.attributes.get(thread_context.ATTRIBUTE))
        if in_reply_to is None:  # a conversation from before this was kept: what storage knows
            references = list(request.thread_ids)
            in_reply_to = references[-1] if references else None
        return compose(
            message_id=our_id,
            from_address=self.address,
            from_name=self.from_name,
            to_address=request.recipient.value,
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


def build(sections: EmailSections, ctx: BuildContext) -> EmailChannel:
    """Without ``reply_token_secret`` the reply-token key is derived from
    ``channels.api.secret``, else from an auth token."""
    fallback_secrets = [ctx.secrets.api_secret] if ctx.secrets.api_secret is not None else []
    fallback_secrets += ctx.secrets.tokens
    return EmailChannel(
        ctx.sink,
        smtp=sections.smtp,
        email=sections.email or EmailChannelConfig(),
        fallback_secrets=fallback_secrets,
    )
