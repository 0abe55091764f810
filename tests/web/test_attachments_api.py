"""Downloading stored attachments over real HTTP: mail delivered over real SMTP, files on
disk, both stores (``GET /api/v1/conversations/{id}/messages/{message_id}/attachments/{index}``)."""

from __future__ import annotations

import email.message
import email.utils
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp.test_utils import TestClient

from gateway.channels.email import EmailChannel
from gateway.model import Channel
from gateway.wiring.services import SERVICES
from tests.channels.test_email_support import DOMAIN, SUPPORT, fixture, smtp_send
from tests.helpers import ALICE_TOKEN, API_SECRET, BOB_TOKEN, OPS_TOKEN, auth, signed_api_body

GBK_MESSAGE_ID = "tencent_3A1F2B9C@qq.com"
PDF_NAME = "交易凭证.pdf"
PDF_SIZE = 1058


def sections(attachments: Path | None, *, email: bool = True) -> dict[str, Any]:
    channels: dict[str, Any] = {"api": {"secret": API_SECRET}}
    if email:
        channels["email"] = {
            "address": SUPPORT,
            "reply_token_secret": "attachments-api-token-secret",
            "attachments_dir": str(attachments) if attachments else None,
        }
    smtp = {"enabled": email, "host": "127.0.0.1", "port": 0, "domains": [DOMAIN]}
    return {"smtp": smtp, "channels": channels}


@dataclass
class Gateway:
    client: TestClient
    port: int
    attachments: Path

    async def deliver(self, raw: bytes) -> None:
        answer = await smtp_send(self.port, raw)
        assert answer.data is not None and answer.data[0] == 250, answer

    async def message(self, message_id: str) -> tuple[str, dict[str, Any]]:
        """The conversation id and the stored message of the mail with this Message-ID."""
        listing = await (await self.client.get("/api/v1/conversations", headers=auth())).json()
        for summary in listing["conversations"]:
            conv = await (await self.client.get(f"/api/v1/conversations/{summary['id']}", headers=auth())).json()
            for m in conv["messages"]:
                if (m["external_id"] or "").rsplit("#", 1)[0] == message_id:
                    return conv["id"], m
        raise AssertionError(f"no stored mail {message_id}")


@pytest.fixture
async def gw(make_client: Callable[..., Awaitable[TestClient]], tmp_path: Path) -> Gateway:
    attachments = tmp_path / "attachments"
    client = await make_client(**sections(attachments))
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port
    return Gateway(client=client, port=adapter.smtp_port, attachments=attachments)


def url(cid: str, mid: str, index: int | str = 0) -> str:
    return f"/api/v1/conversations/{cid}/messages/{mid}/attachments/{index}"


def disposition_filename(header: str) -> str | None:
    """The file name as RFC 6266 says a browser picks it: ``filename*`` (decoded here by
    the standard library's RFC 2231 reader, the parent of RFC 5987) over ``filename``."""
    parsed = email.message.Message()
    parsed["Content-Disposition"] = header
    params = [v for k, v in parsed.get_params(header="content-disposition") or [] if k == "filename"]
    extended = [v for v in params if isinstance(v, tuple)]
    if extended:
        return str(email.utils.collapse_rfc2231_value(extended[0]))
    return str(params[0]) if params else None


async def error_of(client: TestClient, path: str, status: int, token: str = ALICE_TOKEN) -> dict[str, Any]:
    resp = await client.get(path, headers=auth(token))
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return dict((await resp.json())["error"])


async def test_agent_and_ops_download_the_pdf_of_a_gbk_mail_byte_for_byte(gw: Gateway) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    (attachment,) = message["attachments"]
    on_disk = (gw.attachments / attachment["storage_key"]).read_bytes()
    assert on_disk.startswith(b"%PDF-1.4") and len(on_disk) == PDF_SIZE

    for token in (ALICE_TOKEN, BOB_TOKEN, OPS_TOKEN):
        resp = await gw.client.get(url(cid, message["id"]), headers=auth(token))
        assert resp.status == 200, await resp.text()
        assert await resp.read() == on_disk
        assert resp.headers["Content-Type"] == "application/pdf"
        assert resp.headers["Content-Length"] == str(PDF_SIZE)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        disposition = resp.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert disposition_filename(disposition) == PDF_NAME
        star = disposition.split("filename*=", 1)[1]
        assert star.startswith("UTF-8''") and unquote(star[len("UTF-8''") :], encoding="utf-8") == PDF_NAME
        assert 'filename="attachment.pdf"' in disposition  # the plain ASCII fallback
        assert disposition.isascii()


async def test_head_and_a_byte_range_are_answered_from_the_file(gw: Gateway) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    head = await gw.client.head(url(cid, message["id"]), headers=auth(ALICE_TOKEN))
    assert head.status == 200 and head.headers["Content-Length"] == str(PDF_SIZE)
    part = await gw.client.get(url(cid, message["id"]), headers={**auth(ALICE_TOKEN), "Range": "bytes=0-7"})
    assert part.status == 206 and await part.read() == b"%PDF-1.4"


async def test_without_a_valid_token_nothing_is_served(gw: Gateway) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Basic {ALICE_TOKEN}"}):
        resp = await gw.client.get(url(cid, message["id"]), headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"
        assert b"%PDF" not in await resp.read()


async def test_unknown_conversation_message_and_index_are_404_with_their_own_codes(gw: Gateway) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    mid = message["id"]
    assert (await error_of(gw.client, url("cv_nope", mid), 404))["code"] == "not_found"
    assert (await error_of(gw.client, url(cid, "msg_nope"), 404))["code"] == "message_not_found"
    for index in (1, 7, "000002", "9" * 5000):
        error = await error_of(gw.client, url(cid, mid, index), 404)
        assert error["code"] == "attachment_not_found" and "1 attachment" in error["message"]
    assert (await gw.client.get(url(cid, mid, "000"), headers=auth())).status == 200  # still index 0


async def test_a_message_is_only_found_in_its_own_conversation(gw: Gateway) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    _, message = await gw.message(GBK_MESSAGE_ID)
    body, headers = signed_api_body({"id": "other-1", "from": {"id": "someone-else"}, "text": "hello"})
    resp = await gw.client.post("/webhooks/api", data=body, headers=headers)
    other = (await resp.json())["conversation_id"]
    assert (await error_of(gw.client, url(other, message["id"]), 404))["code"] == "message_not_found"


@pytest.mark.parametrize("index", ["-1", "abc", "1.5", "+1", " 1", "1e3", "０", "٣", "..%2F..%2Fetc%2Fpasswd"])
async def test_an_index_that_is_not_a_whole_number_from_0_is_422(gw: Gateway, index: str) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    error = await error_of(gw.client, url(cid, message["id"], index), 422)
    assert error["code"] == "invalid_index"


async def test_a_file_gone_from_disk_is_404_attachment_gone(gw: Gateway) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    (gw.attachments / message["attachments"][0]["storage_key"]).unlink()
    assert (await error_of(gw.client, url(cid, message["id"]), 404))["code"] == "attachment_gone"


async def test_storage_keys_outside_the_store_are_never_followed(gw: Gateway, tmp_path: Path) -> None:
    """An internal note may carry any storage_key an agent typed; only the store's own
    ``ab/<sha256>`` keys are looked up, so nothing else on disk can be read."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not for agents")
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, _ = await gw.message(GBK_MESSAGE_ID)
    keys = [
        "../secret.txt",
        str(secret),
        "ab/../../secret.txt",
        "00/" + "0" * 64,  # well-formed, but nothing stored under it
        "00/" + "0" * 63 + "/",
    ]
    resp = await gw.client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"note": True, "text": "files", "attachments": [{"storage_key": k, "name": "x.txt"} for k in keys]},
        headers=auth(OPS_TOKEN),
    )
    assert resp.status == 202, await resp.text()
    note = await resp.json()
    for index in range(len(keys)):
        error = await error_of(gw.client, url(cid, note["id"], index), 404)
        assert error["code"] == "attachment_gone"


async def test_an_attachment_with_only_a_url_is_404_not_stored_with_the_url(gw: Gateway) -> None:
    link = "https://files.example.com/receipt.png"
    payload = {
        "id": "crm-9",
        "from": {"id": "wang"},
        "text": "see the receipt",
        "attachments": [{"url": link, "content_type": "image/png", "name": "receipt.png"}],
    }
    body, headers = signed_api_body(payload)
    stored = await (await gw.client.post("/webhooks/api", data=body, headers=headers)).json()
    error = await error_of(gw.client, url(stored["conversation_id"], stored["message_id"]), 404)
    assert error["code"] == "not_stored" and error["url"] == link and link in error["message"]


async def test_an_attachment_over_the_size_cap_was_not_kept_and_is_404_not_stored(
    make_client: Callable[..., Awaitable[TestClient]], tmp_path: Path
) -> None:
    config = sections(tmp_path / "attachments")
    config["channels"]["email"]["max_attachment_bytes"] = 500
    client = await make_client(**config)
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port
    gw = Gateway(client=client, port=adapter.smtp_port, attachments=tmp_path / "attachments")
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    assert message["attachments"][0]["storage_key"] is None
    error = await error_of(client, url(cid, message["id"]), 404)
    assert error["code"] == "not_stored" and "url" not in error


@pytest.mark.parametrize("email", [True, False], ids=["email-without-attachments-dir", "no-email-channel"])
async def test_without_an_attachment_store_a_stored_key_is_404_no_attachment_store(
    gw: Gateway, make_client: Callable[..., Awaitable[TestClient]], email: bool
) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    # A second process on the same storage, configured without the store.
    other = await make_client(**sections(None, email=email))
    error = await error_of(other, url(cid, message["id"]), 404)
    assert error["code"] == "no_attachment_store" and "attachments_dir" in error["message"]


def mail_with(*files: tuple[bytes, str, str, str]) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Li Lei <li.lei@example.cn>"
    mail["To"] = SUPPORT
    mail["Subject"] = "页面截图"
    mail["Message-ID"] = "<files-1@example.cn>"
    mail.set_content("附件是页面。")
    for data, maintype, subtype, name in files:
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail.as_bytes()


async def test_html_and_svg_attachments_are_downloads_never_pages_of_this_origin(gw: Gateway) -> None:
    html = b"<html><script>fetch('/api/v1/me')</script></html>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    await gw.deliver(mail_with((html, "text", "html", "页面.html"), (svg, "image", "svg+xml", '../"evil".svg')))
    cid, message = await gw.message("files-1@example.cn")
    assert [a["content_type"] for a in message["attachments"]] == ["text/html", "image/svg+xml"]

    resp = await gw.client.get(url(cid, message["id"], 0), headers=auth(ALICE_TOKEN))
    assert resp.status == 200 and await resp.read() == html
    assert resp.headers["Content-Type"] == "text/html"  # no charset added, nothing guessed
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert disposition_filename(resp.headers["Content-Disposition"]) == "页面.html"

    resp = await gw.client.get(url(cid, message["id"], 1), headers=auth(ALICE_TOKEN))
    assert resp.status == 200 and await resp.read() == svg
    disposition = resp.headers["Content-Disposition"]
    assert resp.headers["Content-Type"] == "image/svg+xml" and disposition.startswith("attachment;")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    name = disposition_filename(disposition)
    assert name is not None and "/" not in name and name.endswith(".svg")
    assert disposition.count('"') == 2  # the fallback's quotes only: the name's own are escaped


async def test_a_malformed_content_type_is_served_as_bytes(gw: Gateway) -> None:
    await gw.deliver(fixture("gbk_gb2312_subject.eml"))
    cid, message = await gw.message(GBK_MESSAGE_ID)
    key = message["attachments"][0]["storage_key"]
    resp = await gw.client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={
            "note": True,
            "text": "the receipt again",
            "attachments": [{"storage_key": key, "content_type": "text/html\r\nX-Evil: 1", "name": "收据\r\n.pdf"}],
        },
        headers=auth(OPS_TOKEN),
    )
    assert resp.status == 202, await resp.text()
    note = await resp.json()
    resp = await gw.client.get(url(cid, note["id"]), headers=auth(ALICE_TOKEN))
    assert resp.status == 200 and "X-Evil" not in resp.headers
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert disposition_filename(resp.headers["Content-Disposition"]) == "收据.pdf"
    assert len(await resp.read()) == PDF_SIZE
