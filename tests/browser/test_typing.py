"""Typing indicators both ways between the web chat widget and the console — two pages of
headless Chromium against one running gateway."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Gateway
from tests.browser.test_webchat_widget import TIMEOUT, open_chat
from tests.helpers import ALICE_TOKEN

pytestmark = pytest.mark.browser


async def test_the_agent_sees_the_customer_typing_and_the_customer_sees_the_agent(
    browser: Browser, gateway: Gateway
) -> None:
    chat = await open_chat(browser, gateway, locale="en-US")
    box = chat.get_by_label("Message", exact=True)
    await box.type("Hello, I need help with a refund")
    await box.press("Enter")
    await expect(chat.locator("li.mine .meta")).to_contain_text("Sent", timeout=TIMEOUT)

    console = await (await browser.new_context(locale="en-GB", viewport={"width": 1366, "height": 800})).new_page()
    await console.goto(f"{gateway.url}/console")
    await console.get_by_label("Access token").fill(ALICE_TOKEN)
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=TIMEOUT)
    await console.locator("#inbox .inbox-item").first.click()  # pick: claims and opens it
    await expect(console.locator("#messages .msg.customer")).to_have_count(1, timeout=TIMEOUT)

    indicator = console.locator("#typing-indicator")

    await box.type("It was charged tw")  # typing, not sent
    await expect(indicator).to_have_text("Customer is typing…", timeout=TIMEOUT)
    await expect(indicator).to_be_hidden(timeout=TIMEOUT)  # it stops when the typing does

    reply = console.get_by_label("Message", exact=True)
    await reply.type("Let me check that for you")
    await expect(chat.get_by_text("alice is typing…")).to_be_visible(timeout=TIMEOUT)
    await reply.press("Enter")
    await expect(chat.locator("li.agent .bubble").last).to_contain_text("Let me check", timeout=TIMEOUT)
    await expect(chat.get_by_text("alice is typing…")).to_be_hidden()  # the reply replaces it
