"""Reading and writing in the console: the history opens and stays at the newest message,
and the send shortcut (shared with the widget) with its setting — headless Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT,
    FakeCrm,
    browser,
    make_gateway,
    no_errors,
    open_console,
    serve,
    sign_in,
)
from tests.helpers import ALICE_TOKEN, API_SECRET, gateway_config, signed_api_body
from tests.servers import free_port

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


KNOWLEDGE = """\
articles:
  - id: refund-zh
    title: 退款到账时间
    language: zh
    tags: [退款]
    body: 您好，退款会原路退回，银行卡 1–3 个工作日到账。
  - id: refund-en
    title: When a refund arrives
    language: en
    tags: [refund]
    body: Hello, your refund reaches your card within 1-3 business days.
"""


async def test_a_canned_reply_is_found_from_the_reply_box_and_inserted_for_editing(
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    knowledge = tmp_path / "knowledge.yaml"
    knowledge.write_text(KNOWLEDGE, encoding="utf-8")
    crm = FakeCrm()
    crm_app = web.Application()
    crm_app.router.add_post("/gateway", crm.handle)
    crm_runner, crm_url = await serve(crm_app)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = gateway_config(
        http={"public_url": url},
        knowledge={"file": str(knowledge)},
        channels={"api": {"secret": API_SECRET, "callback_url": f"{crm_url}/gateway"}},
    )
    runner, _ = await serve(build_app(config, store=MemoryStore(), publisher=MemoryPublisher()), port)
    try:
        await _canned_reply(browser, url, crm)
    finally:
        await runner.cleanup()
        await crm_runner.cleanup()


async def _canned_reply(browser: Browser, url: str, crm: FakeCrm) -> None:  # noqa: F811
    body, headers = signed_api_body({"id": "kb-1", "from": {"id": "u-kb", "name": "Rita"}, "text": "where is my refund?"})
    async with aiohttp.ClientSession() as http, http.post(f"{url}/webhooks/api", data=body, headers=headers) as resp:
        assert resp.status == 200

    page = await (await browser.new_context(locale="en-GB", viewport={"width": 1366, "height": 800})).new_page()
    await page.goto(f"{url}/console")
    await sign_in(page, ALICE_TOKEN)
    await page.get_by_role("button", name="Take next").click()
    await expect(page.locator("#pane").get_by_role("heading", name="Rita")).to_be_visible(timeout=TIMEOUT)
    box = page.get_by_label("Message", exact=True)
    await box.fill("Dear Rita, ")
    await page.get_by_role("button", name="Canned replies").click()
    search = page.get_by_label("Search canned replies")
    await expect(search).to_be_focused()
    await search.fill("refund")
    items = page.locator("#canned .canned-item")
    await expect(items).to_have_count(1, timeout=TIMEOUT)  # the conversation's language: English
    await expect(items.first).to_contain_text("When a refund arrives")
    await items.first.get_by_role("button", name="Insert").click()
    await expect(box).to_have_value("Dear Rita, Hello, your refund reaches your card within 1-3 business days.")
    await expect(box).to_be_focused()
    await expect(page.locator("#canned")).to_be_hidden()
    assert crm.received == []  # inserted, not sent
    await box.press("End")
    await box.type(" Sorry for the wait!")
    await box.press("Enter")
    await expect(page.locator("#messages .msg.agent .text")).to_have_text(
        ["Dear Rita, Hello, your refund reaches your card within 1-3 business days. Sorry for the wait!"],
        timeout=TIMEOUT,
    )
    await page.get_by_role("button", name="中文").click()
    await page.get_by_role("button", name="常用回复").click()
    await page.get_by_label("搜索常用回复").fill("nothing-like-this")
    await expect(page.get_by_text("没有匹配的常用回复。")).to_be_visible(timeout=TIMEOUT)
