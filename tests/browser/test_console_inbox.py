"""The agent's inbox in the console: waiting conversations of their queues, pick to claim,
search, filters and the resolved history — headless Chromium against a real gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import screenshot_path
from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT,
    browser,
    make_gateway,
    no_errors,
    open_console,
    sign_in,
)
from tests.helpers import ALICE_TOKEN, BOB_TOKEN, auth

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_the_inbox_lists_waiting_work_claims_on_pick_searches_and_keeps_history(
    browser: Browser,  # noqa: F811
    make_gateway: Callable[..., Any],  # noqa: F811
) -> None:
    gateway = await make_gateway()
    await gateway.api_message("in-1", "Hello, a general question", id="u-general", name="Gina")
    await gateway.api_message("in-2", "My payment failed twice", id="u-pay", name="Paul")
    await gateway.api_message("in-3", "账户被冻结了", id="u-acct", name="Anna")  # bob's queue, not alice's
    page = await open_console(browser, gateway)
    await sign_in(page, ALICE_TOKEN)

    inbox = page.locator("#inbox")
    rows = inbox.locator(".inbox-item")
    await expect(rows).to_have_count(2, timeout=TIMEOUT)
    # Claim order: the payments rule's priority 6 first; each row shows its wait and preview.
    await expect(rows.first.locator(".preview")).to_have_text("My payment failed twice")
    await expect(rows.first).to_contain_text("Paul")
    await expect(rows.first).to_contain_text("P6")
    await expect(rows.first.locator(".wait")).to_contain_text("waiting")
    await expect(rows.nth(1)).to_contain_text("Gina")
    await expect(rows.first.locator(".due")).not_to_be_empty()

    await page.get_by_label("Filter by queue").select_option("general")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Gina")
    await page.get_by_label("Filter by queue").select_option("")
    await page.get_by_label("Filter by channel").select_option("whatsapp")
    await expect(rows).to_have_count(0)
    await expect(inbox.get_by_text("Nothing here.")).to_be_visible()
    await page.get_by_label("Filter by channel").select_option("")
    await expect(rows).to_have_count(2)
    await page.screenshot(path=str(screenshot_path("console-inbox-en.png")))

    # Picking claims: the conversation opens as the agent's, and leaves the waiting list.
    await rows.filter(has_text="Paul").click()
    pane = page.locator("#pane")
    await expect(pane.get_by_role("heading", name="Paul")).to_be_visible(timeout=TIMEOUT)
    await expect(pane.locator("#conv-meta")).to_contain_text("assigned to alice")
    await expect(rows).to_have_count(1, timeout=TIMEOUT)
    await page.get_by_role("tab", name="Mine").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Paul")

    # Taken by someone else between the list and the pick: said, and the list reloads.
    await page.get_by_role("tab", name="Waiting").click()
    await expect(rows).to_have_count(1)
    [gina] = [c for c in (await gateway.get("/api/v1/conversations?queue=general"))["conversations"]]
    async with gateway.http.post(
        f"{gateway.url}/api/v1/conversations/{gina['id']}/claim", json={}, headers=auth(BOB_TOKEN)
    ) as resp:
        assert resp.status == 200, await resp.text()
    await rows.first.click()
    await expect(inbox.get_by_role("status")).to_have_text("Someone else took it first.", timeout=TIMEOUT)
    await expect(rows).to_have_count(0, timeout=TIMEOUT)

    # Search: a word of a message, a name, over everything alice may read (the All tab);
    # Anna waits in bob's queue, out of alice's reach, so no search shows her to alice.
    await page.get_by_role("tab", name="All").click()
    await expect(rows).to_have_count(2, timeout=TIMEOUT)
    search = page.get_by_role("searchbox", name="Search conversations")
    await search.fill("payment twice")
    await expect(rows).to_have_count(1, timeout=TIMEOUT)
    await expect(rows.first).to_contain_text("Paul")
    await search.fill("gina")
    await expect(rows).to_have_count(1, timeout=TIMEOUT)
    await expect(rows.first.locator(".preview")).to_have_text("Hello, a general question")
    await search.fill("冻结")
    await expect(inbox.get_by_text("Nothing matches.")).to_be_visible(timeout=TIMEOUT)
    await search.fill("")

    # Resolved history: Paul, once alice resolves him.
    await page.get_by_role("button", name="Resolve").click()
    await expect(pane.locator("#conv-badges")).to_contain_text("Resolved", timeout=TIMEOUT)
    await page.get_by_role("tab", name="Resolved").click()
    await expect(rows).to_have_count(1, timeout=TIMEOUT)
    await expect(rows.first).to_contain_text("Paul")
    await rows.first.click()
    await expect(pane.get_by_role("heading", name="Paul")).to_be_visible(timeout=TIMEOUT)

    await page.get_by_role("button", name="中文").click()
    await expect(page.get_by_role("tab", name="已解决")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_role("searchbox", name="搜索会话")).to_be_visible()
    await page.get_by_role("tab", name="等待中").click()
    await page.screenshot(path=str(screenshot_path("console-inbox-zh.png")))
    no_errors(page, 409)
