"""The demo (scripts/serve) answers every channel it accepts, and README/docs commands work.

scripts/serve runs the gateway on the embedded config beside the demo sink; replies on the
API and email channels must reach the sink's log instead of `501 channel_cannot_send`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import smtplib
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port, port_open, wait_for

ROOT = Path(__file__).resolve().parent.parent


def call(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    ports = {name: free_port() for name in ("http", "smtp", "sink", "relay")}
    env = {
        **os.environ,
        "GATEWAY_HTTP_PORT": str(ports["http"]),
        "GATEWAY_SMTP_PORT": str(ports["smtp"]),
        "DEMO_SINK_PORT": str(ports["sink"]),
        "DEMO_RELAY_PORT": str(ports["relay"]),
        "DEMO_DIR": str(tmp_path),
    }
    for name in ("GATEWAY_CONFIG", "API_CALLBACK_URL", "API_SECRET"):
        env.pop(name, None)
    proc = subprocess.Popen(["scripts/serve"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{ports['http']}"
    try:
        wait_for(lambda: port_open(ports["http"]) and call(f"{url}/readyz")[0] == 200, 60, "the demo was not ready")
        yield url, ports, tmp_path / "replies.log", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def reply(url: str, conversation: str, token: str, text: str) -> None:
    status, body = call(
        f"{url}/api/v1/conversations/{conversation}/messages",
        data=json.dumps({"text": text}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert status == 202, body


def test_api_and_email_replies_reach_the_demo_sink_and_it_stops_with_the_gateway(demo) -> None:  # type: ignore[no-untyped-def]
    url, ports, log, proc = demo
    # An API customer, signed with the demo's secret, answered by alice.
    body = json.dumps({"id": "demo-1", "from": {"id": "user-7"}, "text": "我的订单还没发货"}).encode()
    signature = hmac.new(b"api-dev-secret-demo", body, hashlib.sha256).hexdigest()
    headers = {"X-Gateway-Signature": f"sha256={signature}", "Content-Type": "application/json"}
    status, answer = call(f"{url}/webhooks/api", data=body, headers=headers)
    assert status == 200, answer
    reply(url, answer["conversation_id"], "alice-dev-token", "您好，订单明天发货。")

    # A customer's mail, answered by bob: the reply goes to the demo's relay.
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "王芳 <wang.fang@example.com>", "help@support.example.com", "发票"
    mail["Message-ID"] = "<invoice-1@example.com>"
    mail.set_content("请帮我开一张发票。")
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as smtp:
        smtp.send_message(mail)

    def email_conversation() -> str | None:
        _, listed = call(f"{url}/api/v1/conversations?status=open", headers={"Authorization": "Bearer ops-dev-token"})
        return next((c["id"] for c in listed["conversations"] if c["channel"] == "email"), None)

    wait_for(email_conversation, 15, "the mail was not stored")
    reply(url, str(email_conversation()), "bob-dev-token", "发票已开好。")

    def delivered() -> list[str]:
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        return [line for line in lines if "订单明天发货" in line or "发票已开好" in line]

    wait_for(lambda: len(delivered()) == 2, 30, "both replies did not reach the sink")
    api_line, email_line = sorted(delivered(), key=lambda line: "email" in line)
    assert "to user-7" in api_line and "signature ok" in api_line
    assert "to wang.fang@example.com" in email_line and "Re: 发票" in email_line
    kept = list((log.parent / "mail").glob("*.eml"))
    assert len(kept) == 1 and b"In-Reply-To: <invoice-1@example.com>" in kept[0].read_bytes()

    # A callback the gateway did not sign is refused, as a real CRM would.
    status, refused = call(
        f"http://127.0.0.1:{ports['sink']}/api-replies",
        data=b'{"to": {"id": "x"}}',
        headers={"X-Gateway-Signature": "sha256=00"},
    )
    assert status == 401, refused

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    wait_for(
        lambda: not port_open(ports["sink"]) and not port_open(ports["relay"]), 15, "the sink outlived the gateway"
    )


@pytest.mark.timeout(600)
@pytest.mark.xdist_group("own-servers")  # a demo, a sink and many commands: not beside the fault tests
def test_every_command_in_readme_and_docs_works_as_written() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/check_docs.py"], cwd=ROOT, capture_output=True, text=True, timeout=540
    )
    assert result.returncode == 0, result.stdout + result.stderr
