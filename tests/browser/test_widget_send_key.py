"""The widget's send shortcut: the console's rule, shown under the box, and the site's
choice of Ctrl+Enter (``data-send-key``) — headless Chromium against a running gateway."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Gateway
from tests.browser.test_webchat_widget import TIMEOUT, open_chat, the_conversation

pytestmark = pytest.mark.browser


async def test_the_hint_says_enter_sends(browser: Browser, gateway: Gateway) -> None:
    page = await open_chat(browser, gateway, locale="en-US")
    await expect(page.get_by_text("Enter to send · Shift+Enter for a new line")).to_be_visible()


async def test_a_site_that_chose_ctrl_enter_gets_new_lines_from_enter(browser: Browser, gateway: Gateway) -> None:
    page = await (await browser.new_context(locale="zh-CN")).new_page()
    # The demo page's widget tag, as a site would write it with data-send-key="ctrl-enter".
    await page.add_init_script(
        """new MutationObserver(() => {
             for (const s of document.querySelectorAll('script[src*="/static/widget.js"]')) s.dataset.sendKey = "ctrl-enter";
           }).observe(document, {childList: true, subtree: true});"""
    )
    await page.goto(f"{gateway.url}/chat")
    await expect(page.get_by_role("dialog")).to_be_visible(timeout=TIMEOUT)
    await expect(page.get_by_text("Ctrl+Enter 发送")).to_be_visible()
    box = page.get_by_label("消息", exact=True)
    await box.type("第一行")
    await box.press("Enter")
    await box.type("第二行")
    await expect(box).to_have_value("第一行\n第二行")
    await box.press("Control+Enter")
    await expect(page.locator("li.mine .meta")).to_contain_text("已发送", timeout=TIMEOUT)
    stored = await gateway.messages(await the_conversation(gateway))
    assert [m["text"] for m in stored] == ["第一行\n第二行"]
