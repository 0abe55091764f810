"""Stored email attachments in the console: headless Chromium against a gateway on a real
port, mail delivered over real SMTP, files on disk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from gateway.app import build_app
from gateway.channels.email import EmailChannel
from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from gateway.wiring.services import SERVICES
from tests.browser.conftest import screenshot_path
from tests.channels.test_email_support import DOMAIN, SUPPORT, fixture, smtp_send
from tests.helpers import ALICE_TOKEN, auth, gateway_config
from tests.servers import free_port

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous for Chromium on a busy machine
HTML = b"<html><body><script>document.title='pwned'</script></body></html>"


@dataclass
class Gateway:
    url: str
    smtp_port: int
    attachments: Path
    http: aiohttp.ClientSession

    async def deliver(self, raw: bytes) -> None:
        answer = await smtp_send(self.smtp_port, raw, mail_from="wangzhe@example.cn")
        assert answer.data is not None and answer.data[0] == 250, answer

    async def conversation(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/api/v1/conversations", headers=auth()) as resp:
            (summary,) = (await resp.json())["conversations"]
        async with self.http.get(f"{self.url}/api/v1/conversations/{summary['id']}", headers=auth()) as resp:
            return dict(await resp.json())


@pytest.fixture
async def gateway(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[Gateway]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    attachments = tmp_path / "attachments"
    config = gateway_config(
        http={"public_url": url},
        smtp={"enabled": True, "host": "127.0.0.1", "port": 0, "domains": [DOMAIN]},
        channels={
            "email": {
                "address": SUPPORT,
                "reply_token_secret": "console-attachments-secret",
                "attachments_dir": str(attachments),
            }
        },
    )
    server = await aiohttp_server(build_app(config, store=MemoryStore(), publisher=MemoryPublisher()), port=port)
    adapter = server.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port
    async with aiohttp.ClientSession() as http:
        yield Gateway(url=url, smtp_port=adapter.smtp_port, attachments=attachments, http=http)


def follow_up_with_html() -> bytes:
    mail = EmailMessage()
    mail["From"] = "王喆 <wangzhe@example.cn>"
    mail["To"] = SUPPORT
    mail["Subject"] = "Re: 关于退款的问题"
    mail["Message-ID"] = "<follow-up-1@example.cn>"
    mail["In-Reply-To"] = "<tencent_3A1F2B9C@qq.com>"
    mail.set_content("还有付款页面的截图。")
    mail.add_attachment(HTML, maintype="text", subtype="html", filename="付款页面.html")
    return mail.as_bytes()


def read(path: Path | str) -> bytes:
    return Path(path).read_bytes()


async def open_console(browser: Browser, gateway: Gateway) -> Page:
    context = await browser.new_context(locale="en-GB", viewport={"width": 1366, "height": 800}, accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{gateway.url}/console")
    await page.get_by_label("Access token").fill(ALICE_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    return page


async def test_an_agent_downloads_the_customers_stored_pdf_and_html_is_saved_never_opened(
    browser: Browser, gateway: Gateway
) -> None:
    await gateway.deliver(fixture("gbk_gb2312_subject.eml"))
    await gateway.deliver(follow_up_with_html())
    conv = await gateway.conversation()
    first, second = conv["messages"]
    pdf, html = first["attachments"][0], second["attachments"][0]
    pdf_bytes = (gateway.attachments / pdf["storage_key"]).read_bytes()

    page = await open_console(browser, gateway)
    await page.get_by_role("button", name="Take next").click()
    pane = page.locator("#pane")
    await expect(pane.get_by_role("heading", name="王喆")).to_be_visible(timeout=TIMEOUT)

    attachments = pane.locator("#messages .attachments")
    link = attachments.get_by_role("link", name="交易凭证.pdf")
    await expect(link).to_have_attribute(
        "href", f"/api/v1/conversations/{conv['id']}/messages/{first['id']}/attachments/0"
    )
    await expect(link).to_have_attribute("download", "交易凭证.pdf")
    await page.screenshot(path=str(screenshot_path("console-attachment-link.png")))

    async with page.expect_download(timeout=TIMEOUT) as pdf_download:
        await link.click()
    download = await pdf_download.value
    assert download.suggested_filename == "交易凭证.pdf"
    assert read(await download.path()) == pdf_bytes

    # An HTML file the customer sent is saved as a file: no new page, nothing runs here.
    console_url = page.url
    html_link = attachments.get_by_role("link", name="付款页面.html")
    await expect(html_link).to_have_attribute(
        "href", f"/api/v1/conversations/{conv['id']}/messages/{second['id']}/attachments/0"
    )
    async with page.expect_download(timeout=TIMEOUT) as html_download:
        await html_link.click()
    download = await html_download.value
    assert download.suggested_filename == "付款页面.html"
    assert read(await download.path()) == HTML
    assert page.url == console_url and len(page.context.pages) == 1
    assert await page.title() != "pwned"

    # The file gone from disk: the agent is told, and stays signed in.
    (gateway.attachments / html["storage_key"]).unlink()
    await html_link.click()
    message = page.locator("#action-message")
    await expect(message).to_contain_text("付款页面.html could not be downloaded", timeout=TIMEOUT)
    await expect(message).to_contain_text("no longer in the attachment store")
    await expect(page.get_by_role("button", name="Take next")).to_be_visible()
    unexpected = [e for e in page.errors if "status of 404" not in e]  # type: ignore[attr-defined]
    assert unexpected == [], unexpected
