"""Identity verification in the console, headless Chromium against a gateway on a real
port with a fake Twilio REST API (a real local server): the agent sees the contact's
state, sends a code, and watches it turn verified when the customer answers; a web chat
visitor's typed email shows as unverified."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, async_playwright, expect

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot_path
from tests.browser.test_console import no_errors, open_console, serve, sign_in
from tests.channels.twilio_helpers import OUR_NUMBER, FakeTwilio, twilio_section
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, auth, gateway_config, signed_api_body
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

TIMEOUT = 30_000
PHONE = "+8613800138000"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


class Site:
    def __init__(self, url: str, http: aiohttp.ClientSession, twilio: FakeTwilio) -> None:
        self.url, self.http, self.twilio = url, http, twilio

    async def customer_says(self, external_id: str, text: str) -> None:
        body, headers = signed_api_body(
            {"id": external_id, "from": {"id": "wang", "name": "王小明", "phone": PHONE}, "text": text}
        )
        async with self.http.post(f"{self.url}/webhooks/api", data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()

    def codes(self) -> list[str]:
        return [re.search(r"\d{6}", str(f["Body"])).group(0) for _, f in self.twilio.received]  # type: ignore[union-attr]


@pytest_asyncio.fixture(loop_scope="module")
async def site() -> AsyncIterator[Site]:
    twilio = FakeTwilio()
    provider = web.Application()
    provider.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", twilio.messages)
    provider_runner, provider_url = await serve(provider)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = gateway_config(
        http={"public_url": url},
        reply_tracking={"scan_interval": "50ms"},
        channels={
            "api": {"secret": API_SECRET},
            "twilio": twilio_section(api_base_url=provider_url, from_number=OUR_NUMBER),
            "webchat": {"allowed_origins": [url]},
        },
        verification={"secret": "console-verification-secret-0001"},
    )
    runner, _ = await serve(build_app(config, store=MemoryStore(), publisher=MemoryPublisher()), port)
    http = aiohttp.ClientSession()
    try:
        yield Site(url, http, twilio)
    finally:
        await http.close()
        await runner.cleanup()
        await provider_runner.cleanup()


async def test_the_agent_sends_a_code_and_sees_the_customer_verified(browser: Browser, site: Site) -> None:
    await site.customer_says("c-1", "我要修改绑定手机号")
    page = await open_console(browser, site)  # type: ignore[arg-type]
    await sign_in(page, ALICE_TOKEN)
    await page.get_by_role("button", name="Take next").click()
    pane = page.locator("#pane")
    box = pane.locator("#verification")
    await expect(box.get_by_role("heading", name="Identity")).to_be_visible(timeout=TIMEOUT)
    await expect(box.locator("#verify-state")).to_have_text("Not verified")

    await box.get_by_role("button", name="Send code").click()
    await expect(box.locator("#verify-message")).to_have_text("Code sent to +86 138****8000 by SMS.", timeout=TIMEOUT)
    await expect(box.locator("#verify-state")).to_have_text("Code sent, waiting", timeout=TIMEOUT)
    await expect(box.locator("#verify-facts")).to_contain_text("+86 138****8000")
    await expect(box.locator("#verify-facts")).to_contain_text("Attempts left5")
    [code] = await eventually(lambda: site.codes() or None)
    await expect(pane.locator("#messages")).to_contain_text("[verification code sent by SMS to +86 138****8000]")

    await box.get_by_role("button", name="Send a new code").click()  # too soon
    await expect(box.locator("#verify-message")).to_contain_text("a new one may go in", timeout=TIMEOUT)

    await site.customer_says("c-2", code)  # live: no reload
    await expect(box.locator("#verify-state")).to_have_text("Verified", timeout=TIMEOUT)
    await expect(box.locator("#verify-facts")).to_contain_text("code by SMS")
    await expect(box.get_by_role("button", name="Send a new code")).to_be_disabled()
    await expect(pane.locator("#messages")).to_contain_text("[verification code: correct]")
    assert code not in await page.content()  # the digits never reach the agent
    await page.screenshot(path=str(screenshot_path("console-verification.png")), full_page=True)
    no_errors(page, 429)


async def test_an_email_and_phone_typed_in_the_widget_show_as_unverified(browser: Browser, site: Site) -> None:
    chat = await (await browser.new_context(locale="en-US")).new_page()
    await chat.goto(f"{site.url}/chat")
    dialog = chat.get_by_role("dialog", name="Support")
    await expect(dialog.get_by_role("status")).to_have_text(re.compile("Online|No agent online"), timeout=TIMEOUT)
    await dialog.get_by_text("Your name, email and phone (optional)").click()
    await dialog.get_by_label("Email").fill("someone@example.com")
    await dialog.get_by_label("Phone (+country code)").fill("13900139000")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_text("Please give the number with its country code")).to_be_visible()
    await dialog.get_by_label("Phone (+country code)").fill("+86 139 0013 9000")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_text("Saved")).to_be_visible(timeout=TIMEOUT)
    box = chat.get_by_label("Message", exact=True)
    await box.fill("我是陈静，帮我查账户")
    await box.press("Enter")
    await expect(chat.locator("li.mine .meta")).to_contain_text("Sent", timeout=TIMEOUT)

    async def webchat_conversation() -> dict[str, Any] | None:
        async with site.http.get(f"{site.url}/api/v1/conversations", headers=auth()) as resp:
            return next((c for c in (await resp.json())["conversations"] if c["channel"] == "webchat"), None)

    conv = await eventually(webchat_conversation)
    page = await open_console(browser, site)  # type: ignore[arg-type]
    await sign_in(page, ALICE_TOKEN)
    await page.evaluate("id => import('/static/console/conversation.js').then(m => m.openConversation(id))", conv["id"])
    claim = page.locator("#verify-claim")
    await expect(claim).to_contain_text("Typed in the chat: someone@example.com, +8613900139000", timeout=TIMEOUT)
    await expect(claim.locator(".badge")).to_have_text("unverified")
    await expect(page.locator("#verify-state")).to_have_text("Not verified")
    await page.get_by_role("button", name="Send code").click()  # a claim receives no code
    await expect(page.locator("#verify-message")).to_contain_text("no phone number or email", timeout=TIMEOUT)
    no_errors(page, 409)
