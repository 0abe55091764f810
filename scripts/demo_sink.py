"""Where the demo's replies go: a stand-in CRM callback and a stand-in SMTP relay.

`scripts/serve` starts this next to the gateway, so the embedded config can answer every
channel it accepts. The API channel's `callback_url` points at the HTTP side, the email
channel's relay at the SMTP side. Each delivered reply is appended to
`var/demo/replies.log` (one readable line, also printed on stderr); each mail is kept whole
as `var/demo/mail/<n>.eml`. Both listen on 127.0.0.1 only and deliver nothing further.

The API callback's `X-Gateway-Signature` is checked with the same secret the gateway signs
with (`$API_SECRET`, else the demo's `api-dev-secret-demo`), the way a real receiver would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
MAX_BODY = 1024 * 1024
PREVIEW_CHARS = 160


class ReplyLog:
    """Appends one line per delivered reply to the log file and to stderr."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.mail_dir = directory / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.path = directory / "replies.log"
        self.path.touch()  # there from the start, so `tail` works before the first reply

    def write(self, channel: str, to: str, text: str, note: str) -> None:
        flat = " ".join(text.split())
        if len(flat) > PREVIEW_CHARS:
            flat = flat[: PREVIEW_CHARS - 1] + "…"
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"{stamp}  {channel:<5}  to {to}: {flat}  ({note})"
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        print(f"[demo sink] {line}", file=sys.stderr, flush=True)

    def keep_mail(self, raw: bytes) -> Path:
        number = sum(1 for _ in self.mail_dir.glob("*.eml")) + 1
        path = self.mail_dir / f"{number:04d}.eml"
        path.write_bytes(raw)
        return path


def api_callback_app(log: ReplyLog, secret: bytes) -> web.Application:
    """The CRM side of the API channel: accepts the signed `message.outbound` POSTs."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(request.headers.get("X-Gateway-Signature", ""), expected)
        if not signed:
            return web.json_response({"error": {"code": "bad_signature", "message": "signature mismatch"}}, status=401)
        try:
            event = json.loads(body)
            to, text = event["to"]["id"], event.get("text") or ""
            conversation = event.get("conversation_id", "?")
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": {"code": "malformed", "message": "not a message.outbound"}}, status=400)
        flags = ",".join(event.get("flags") or [])
        log.write("api", to, text, f"conversation {conversation}, signature ok" + (f", flags {flags}" if flags else ""))
        return web.json_response({"received": event.get("id")})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/{tail:.*}", receive)
    return app


class RelayHandler:
    """The relay side of the email channel: takes the reply, keeps it, sends it nowhere."""

    def __init__(self, log: ReplyLog) -> None:
        self.log = log

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        kept = self.log.keep_mail(raw)
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        part = mail.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        subject = str(mail.get("Subject", ""))
        where = kept.relative_to(ROOT) if kept.is_relative_to(ROOT) else kept
        self.log.write("email", ", ".join(envelope.rcpt_tos), f"{subject} — {text}", f"whole mail in {where}")
        return "250 2.0.0 OK kept by the demo sink"


async def run(args: argparse.Namespace) -> None:
    log = ReplyLog(args.dir)
    secret = os.environ.get("API_SECRET") or "api-dev-secret-demo"
    runner = web.AppRunner(api_callback_app(log, secret.encode()), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.http_port).start()
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SMTP(
            RelayHandler(log),
            hostname="demo-sink",
            data_size_limit=10 * MAX_BODY,
            enable_SMTPUTF8=True,
            decode_data=False,
        ),
        "127.0.0.1",
        args.smtp_port,
    )
    if args.ready_file:
        args.ready_file.write_text("ready\n")
    print(
        f"[demo sink] API callbacks on http://127.0.0.1:{args.http_port}/, SMTP relay on 127.0.0.1:{args.smtp_port}; "
        f"replies are written to {log.path.relative_to(ROOT) if log.path.is_relative_to(ROOT) else log.path}",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    parent = os.getppid()
    try:
        while not stop.is_set():
            # Started by scripts/serve, which then becomes the gateway: leave with it.
            if args.follow_parent and os.getppid() != parent:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        smtp.close()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int, default=8025, help="API callback port (default 8025)")
    parser.add_argument("--smtp-port", type=int, default=2526, help="SMTP relay port (default 2526)")
    default_dir = Path(os.environ.get("DEMO_DIR") or ROOT / "var" / "demo")
    parser.add_argument(
        "--dir", type=Path, default=default_dir, help="where replies go (default $DEMO_DIR, else var/demo)"
    )
    parser.add_argument("--ready-file", type=Path, help="written once both ports listen")
    parser.add_argument("--follow-parent", action="store_true", help="exit when the parent process exits")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except OSError as exc:
        sys.exit(f"[demo sink] cannot start: {exc}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
