"""Helpers for the email tests: a real SMTP client, a real relay, fixture mail.

Not tests themselves; the test modules import them.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

FIXTURES = Path(__file__).parent / "email_fixtures"
DOMAIN = "support.example.com"
SUPPORT = f"support@{DOMAIN}"
_CLIENT_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="smtp-test-client")


def fixture(name: str, **replace: str) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    for key, value in replace.items():
        raw = raw.replace(("{{" + key + "}}").encode(), value.encode())
    return raw


@dataclass
class SmtpAnswer:
    """What a real SMTP client saw for one mail."""

    mail: tuple[int, bytes]
    rcpts: list[tuple[int, bytes]]
    data: tuple[int, bytes] | None


def _send_sync(
    port: int, raw: bytes, mail_from: str, rcpts: list[str], mail_options: list[str], ehlo: bool
) -> SmtpAnswer:
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as client:
        if ehlo:
            client.ehlo("client.example.net")
        else:
            client.helo("client.example.net")
        mail = client.mail(mail_from, options=mail_options)
        if mail[0] != 250:
            return SmtpAnswer(mail=mail, rcpts=[], data=None)
        answers = [client.rcpt(r) for r in rcpts]
        if not any(code == 250 for code, _ in answers):
            return SmtpAnswer(mail=mail, rcpts=answers, data=None)
        try:
            data = client.data(raw)
        except smtplib.SMTPDataError as exc:
            data = (exc.smtp_code, exc.smtp_error)
        return SmtpAnswer(mail=mail, rcpts=answers, data=data)


async def smtp_send(
    port: int,
    raw: bytes,
    *,
    mail_from: str = "customer@example.cn",
    rcpts: list[str] | None = None,
    mail_options: list[str] | None = None,
    ehlo: bool = True,
) -> SmtpAnswer:
    """Deliver one mail with the standard library's client, in a thread of the client's
    own pool: the gateway under test uses the loop's default executor (to parse mail), and
    blocked client threads there would starve it."""
    return await asyncio.get_running_loop().run_in_executor(
        _CLIENT_THREADS, _send_sync, port, raw, mail_from, rcpts or [SUPPORT], mail_options or [], ehlo
    )


def simple_mail(
    *,
    message_id: str,
    sender: str = "li.lei@example.cn",
    to: str = SUPPORT,
    subject: str = "Payment failed",
    text: str = "My payment failed twice.",
    extra_headers: str = "",
) -> bytes:
    return (
        f"From: Li Lei <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\nDate: Mon, 4 Mar 2024 10:00:00 +0800\r\n{extra_headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{text}\r\n"
    ).encode()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    authenticated: bool
    tls: bool


@dataclass
class RelaySink:
    """A real SMTP server standing in for the outbound relay; records what it accepts.

    ``answers`` are DATA replies to give, in order ("451 ..." / "550 ..."); then 250.
    """

    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    port: int = 0
    server: Any = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answers:
            return self.answers.pop(0)
        self.received.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content or b"",
                authenticated=bool(session.authenticated),
                tls=session.ssl is not None,
            )
        )
        return "250 2.0.0 accepted by the test relay"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "relay.pem", directory / "relay.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


async def start_relay(sink: RelaySink, *, tls: tuple[Path, Path] | None = None, users: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
        password = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
        return AuthResult(success=bool(users) and users.get(login) == password, handled=False)

    def factory() -> SMTP:
        return SMTP(
            sink,
            hostname="relay.test",
            tls_context=context,
            require_starttls=context is not None,
            authenticator=authenticator if users else None,
            auth_required=bool(users),
            loop=loop,
        )

    sink.server = await loop.create_server(factory, "127.0.0.1", 0)
    sink.port = sink.server.sockets[0].getsockname()[1]
    return sink
