"""Reading and writing in the console: the history opens and stays at the newest message,
and the send shortcut (shared with the widget) with its setting — headless Chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT,
    browser,
    make_gateway,
    no_errors,
    open_console,
    sign_in,
)
from tests.helpers import ALICE_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_the_history_opens_at_the_newest_message_and_follows_new_ones(
    browser: Browser,  # noqa: F811
    make_gateway: Callable[..., Any],  # noqa: F811
) -> None:
    gateway = await make_gateway()
    for i in range(40):
        await gateway.api_message(f"long-{i}", f"line {i} of a long story", id="u-long", name="Lena")
    page = await open_console(browser, gateway)
    await sign_in(page, ALICE_TOKEN)
    await page.get_by_role("button", name="Take next").click()
    messages = page.locator("#messages .msg")
    await expect(messages).to_have_count(40, timeout=TIMEOUT)
    await expect(messages.last).to_be_in_viewport()
    await expect(messages.first).not_to_be_in_viewport()
    scrolled = await page.evaluate("document.querySelector('#pane .timeline').scrollTop")
    assert scrolled > 0

    await gateway.api_message("long-40", "and one more thing", id="u-long", name="Lena")
    await expect(messages).to_have_count(41, timeout=TIMEOUT)
    await expect(messages.last).to_be_in_viewport()
    await expect(messages.last).to_contain_text("and one more thing")

    # Scrolled up to read: a new message does not pull the agent away.
    await page.evaluate("document.querySelector('#pane .timeline').scrollTop = 0")
    await gateway.api_message("long-41", "are you there?", id="u-long", name="Lena")
    await expect(messages).to_have_count(42, timeout=TIMEOUT)
    await expect(messages.first).to_be_in_viewport()

    # On a phone the page scrolls, not the column: it still opens at the newest.
    phone = await open_console(browser, gateway, viewport={"width": 390, "height": 760})
    await sign_in(phone, ALICE_TOKEN)
    await phone.locator("#my-list .conv-item").first.click()
    await expect(phone.locator("#messages .msg")).to_have_count(42, timeout=TIMEOUT)
    await expect(phone.locator("#messages .msg").last).to_be_in_viewport()
    no_errors(page)
    no_errors(phone)


async def test_enter_sends_and_the_setting_makes_it_ctrl_enter(
    browser: Browser,  # noqa: F811
    make_gateway: Callable[..., Any],  # noqa: F811
) -> None:
    gateway = await make_gateway()
    await gateway.api_message("k-1", "hello", id="u-keys", name="Kim")
    page = await open_console(browser, gateway)
    await sign_in(page, ALICE_TOKEN)
    await page.get_by_role("button", name="Take next").click()
    box = page.get_by_label("Message", exact=True)
    await expect(page.locator("#send-key-hint")).to_have_text("Enter sends · Shift+Enter: new line", timeout=TIMEOUT)

    await box.fill("first line")
    await box.press("Shift+Enter")
    await box.type("second line")
    await box.press("Enter")
    agent = page.locator("#messages .msg.agent .text")
    await expect(agent).to_have_text(["first line\nsecond line"], timeout=TIMEOUT)
    await expect(box).to_have_value("")

    await page.get_by_label("Send with Ctrl+Enter").check()
    await expect(page.locator("#send-key-hint")).to_have_text("Ctrl+Enter sends · Enter: new line")
    await box.fill("one")
    await box.press("Enter")
    await box.type("two")
    await expect(box).to_have_value("one\ntwo")
    await box.press("Control+Enter")
    await expect(agent).to_have_text(["first line\nsecond line", "one\ntwo"], timeout=TIMEOUT)

    # A preference of this browser: it holds after a reload, in Chinese too.
    await page.reload()
    await expect(page.get_by_label("Send with Ctrl+Enter")).to_be_checked(timeout=TIMEOUT)
    await page.get_by_role("button", name="中文").click()
    await expect(page.locator("#send-key-hint")).to_have_text("Ctrl+Enter 发送 · Enter 换行")
    assert [r["text"] for r in gateway.crm.received] == ["first line\nsecond line", "one\ntwo"]
    no_errors(page)
