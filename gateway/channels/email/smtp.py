"""Inbound SMTP on the gateway's own event loop (aiosmtpd's protocol, not its threaded
``Controller``), so storing a mail is the same ``await sink.accept`` as for a webhook.

Answers: ``550`` for a recipient outside ``smtp.domains`` (no open relay), ``552`` over
``smtp.max_message_bytes`` (advertised in EHLO as SIZE, checked on MAIL FROM SIZE= and
while reading DATA), ``250`` only once the mail is stored, ``451`` when it cannot be (the
sending server retries later). Nothing a sender can put in a mail reaches them as a 5xx
crash: an unexpected error is a ``451`` too, and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import metrics
from gateway.model import Backlogged, ServiceUnavailable

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
SHUTDOWN_REPLY = b"421 4.3.2 gateway shutting down, please try again later\r\n"


class Rejected(Exception):
    """A mail refused for good: ``reply`` is the full SMTP answer (``5xx ...``)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class LenientSMTP(SMTP):
    """aiosmtpd refuses DATA lines over RFC 5321's 1000 octets with a permanent 500; real
    mailers (HTML generators, some webmail) exceed it, and bouncing a customer's mail for
    it helps nobody. Lines are accepted up to 1 MiB (the size limit still applies)."""

    line_length_limit = 1024 * 1024


# (raw bytes, envelope sender, envelope recipients) → the answer's text after "250 "
MailHandler = Callable[[bytes, str | None, list[str]], Awaitable[str]]


class InboundHandler:
    """aiosmtpd hooks: recipient policy and DATA → ``MailHandler``."""

    def __init__(self, *, domains: list[str], on_mail: MailHandler) -> None:
        self.domains = {d.lower() for d in domains}
        self.on_mail = on_mail

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].strip().rstrip(".").lower()
        if domain not in self.domains:
            metrics.INBOUND.labels("email", "rejected").inc()
            return f"550 5.7.1 <{address}>: relay access denied; this server only accepts mail for its own domains"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        sender = envelope.mail_from
        started = time.perf_counter()  # from the end of DATA to our answer, like a webhook's
        try:
            reference = await self.on_mail(raw, sender, list(envelope.rcpt_tos))
        except Backlogged:
            return "451 4.3.0 too many messages waiting, please try again later"
        except ServiceUnavailable:
            log.warning("mail not stored: storage unavailable", extra={"peer": str(session.peer)})
            return "451 4.3.0 storage unavailable, please try again later"
        except Rejected as exc:
            metrics.INBOUND.labels("email", "rejected").inc()
            return exc.reply
        except Exception:
            log.exception("mail not stored: unexpected error", extra={"peer": str(session.peer)})
            return "451 4.3.0 temporary failure, please try again later"
        metrics.ACK_LATENCY.labels("email").observe(time.perf_counter() - started)
        return f"250 2.0.0 OK {reference}"

    async def handle_exception(self, error: Exception) -> str:
        log.warning("SMTP session error: %s", type(error).__name__)
        return "451 4.3.0 temporary failure, please try again later"


class SmtpServer:
    """The listening socket and its sessions; ``port`` is the bound port (``0`` works)."""

    def __init__(
        self, handler: InboundHandler, *, host: str, port: int, max_bytes: int, hostname: str, timeout: float = 60.0
    ) -> None:
        self.handler = handler
        self.timeout = timeout
        self.host = host
        self.requested_port = port
        self.max_bytes = max_bytes
        self.hostname = hostname
        self.port: int | None = None
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[SMTP] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _protocol(self) -> SMTP:
        protocol = LenientSMTP(
            self.handler,
            data_size_limit=self.max_bytes,
            enable_SMTPUTF8=True,
            hostname=self.hostname,
            ident="omnichannel-gateway",
            loop=self._loop,
            timeout=self.timeout,  # silence between commands (or lines of DATA) ends the session
        )
        self._sessions.add(protocol)
        original = protocol.connection_lost

        def connection_lost(error: Exception | None, _original: Any = original) -> None:
            self._sessions.discard(protocol)
            _original(error)

        protocol.connection_lost = connection_lost  # type: ignore[method-assign]
        return protocol

    async def start(self) -> None:
        if logging.getLogger("mail.log").level == logging.NOTSET:
            # aiosmtpd logs every command (addresses included) at INFO; keep the noise out.
            logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._loop = loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=self.host, port=self.requested_port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("smtp listening", extra={"smtp": f"{self.host}:{self.port}"})

    def stop_accepting(self) -> None:
        """Shutting down: no new sessions; mail already in DATA finishes and is stored."""
        if self._server is not None:
            self._server.close()

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                # RFC 5321 4.2.2: a server shutting down answers 421, so the client retries
                # elsewhere or later instead of seeing a dropped connection.
                session.transport.write(SHUTDOWN_REPLY)
                session.transport.close()
        await self._server.wait_closed()
        self._server = None
