"""The chat widget as a visitor uses it: in headless Chromium, against a running gateway."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Gateway, screenshot_path
from tests.conftest import eventually

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous for Chromium on a busy machine


async def open_chat(browser: Browser, gateway: Gateway, **context: object) -> Page:
    page = await (await browser.new_context(**context)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{gateway.url}/chat")
    await expect(page.get_by_role("dialog")).to_be_visible(timeout=TIMEOUT)
    return page


async def the_conversation(gateway: Gateway) -> str:
    found = await eventually(gateway.webchat_conversations)
    assert len(found) == 1
    return str(found[0]["id"])


async def test_a_visitor_chats_gets_the_reply_and_finds_the_history_after_a_reload(
    browser: Browser, gateway: Gateway
) -> None:
    await gateway.agent_online()
    page = await open_chat(browser, gateway, locale="en-US", viewport={"width": 1280, "height": 800})
    dialog = page.get_by_role("dialog", name="Support")
    await expect(dialog.get_by_role("status")).to_have_text("Online", timeout=TIMEOUT)
    box = page.get_by_label("Message", exact=True)
    await expect(box).to_be_focused()  # opening the panel puts the cursor in the text box
    await box.fill("Hello, my payment failed — 付款失败")
    await box.press("Enter")
    mine = page.locator("li.mine")
    await expect(mine).to_have_count(1)
    await expect(mine.locator(".bubble")).to_have_text("Hello, my payment failed — 付款失败")
    await expect(mine.locator(".meta")).to_contain_text("Sent", timeout=TIMEOUT)  # acknowledged
    await expect(box).to_have_value("")

    cid = await the_conversation(gateway)
    stored = await gateway.messages(cid)
    assert [m["text"] for m in stored] == ["Hello, my payment failed — 付款失败"]
    reply = await gateway.reply(cid, "Sorry about that! 我们马上处理。")
    agent = page.locator("li.agent")
    await expect(agent.locator(".bubble")).to_have_text("Sorry about that! 我们马上处理。", timeout=TIMEOUT)
    await expect(agent.locator(".meta")).to_contain_text("alice")

    async def delivered() -> bool:
        return any(m["id"] == reply["id"] and m["status"] == "delivered" for m in await gateway.messages(cid))

    await eventually(delivered)  # the widget confirmed it got the reply
    await page.screenshot(path=str(screenshot_path("webchat-desktop.png")))

    await page.reload()
    await expect(page.get_by_role("dialog")).to_be_visible(timeout=TIMEOUT)
    await expect(page.locator("li.mine .bubble")).to_have_text(["Hello, my payment failed — 付款失败"], timeout=TIMEOUT)
    await expect(page.locator("li.agent .bubble")).to_have_text(["Sorry about that! 我们马上处理。"])
    assert len(await gateway.webchat_conversations()) == 1  # the same conversation, not a new one

    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_be_hidden()
    launcher = page.get_by_role("button", name="Chat with us")
    await expect(launcher).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_on_a_phone_the_panel_fills_the_screen_and_speaks_chinese(browser: Browser, gateway: Gateway) -> None:
    await gateway.agent_online()
    page = await open_chat(
        browser,
        gateway,
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    dialog = page.get_by_role("dialog", name="在线客服")
    await expect(dialog.get_by_role("status")).to_have_text("在线", timeout=TIMEOUT)
    panel = await dialog.bounding_box()
    assert panel is not None and panel["width"] == 390 and panel["height"] == 844
    box = page.get_by_label("消息", exact=True)
    assert await box.get_attribute("placeholder") == "请输入消息…"
    await box.fill("你好，我的账户被锁了，怎么办？")
    await page.get_by_role("button", name="发送").tap()
    await expect(page.locator("li.mine .meta")).to_contain_text("已发送", timeout=TIMEOUT)
    cid = await the_conversation(gateway)
    await gateway.reply(
        cid, "您好！请提供注册手机号，我们为您解锁。这是一条比较长的回复，用来查看在手机屏幕上的换行效果。"
    )
    await expect(page.locator("li.agent .bubble")).to_contain_text("我们为您解锁", timeout=TIMEOUT)
    send = await page.get_by_role("button", name="发送").bounding_box()
    assert send is not None and send["height"] >= 44 and send["x"] + send["width"] <= 390  # reachable, on screen
    await page.screenshot(path=str(screenshot_path("webchat-phone.png")))
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_message_typed_before_a_reload_and_never_acknowledged_is_sent_after_it(
    browser: Browser, gateway: Gateway
) -> None:
    context = await browser.new_context(locale="en-US")
    key = f"gwchat:{gateway.url}:pending"
    pending = [{"id": "unacked-1", "text": "sent while the network was down", "at": 1700000000000}]
    # What the widget left in localStorage when the tab closed before the ack arrived.
    await context.add_init_script(f"window.localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(pending))});")
    page = await context.new_page()
    await page.goto(f"{gateway.url}/chat")
    await expect(page.locator("li.mine .meta")).to_contain_text("Sent", timeout=TIMEOUT)
    cid = await the_conversation(gateway)
    stored = await gateway.messages(cid)
    assert [(m["text"], m["external_id"].split(":")[1]) for m in stored] == [
        ("sent while the network was down", "unacked-1")
    ]
    left = await page.evaluate(f"window.localStorage.getItem({json.dumps(key)})")
    assert json.loads(left) == []


async def test_shift_enter_is_a_new_line_and_enter_sends_both_lines(browser: Browser, gateway: Gateway) -> None:
    page = await open_chat(browser, gateway, locale="en-US")
    box = page.get_by_label("Message", exact=True)
    await box.type("first line")
    await box.press("Shift+Enter")
    await box.type("second line")
    await expect(page.locator("li.mine")).to_have_count(0)
    await box.press("Enter")
    await expect(page.locator("li.mine .meta")).to_contain_text("Sent", timeout=TIMEOUT)
    stored = await gateway.messages(await the_conversation(gateway))
    assert [m["text"] for m in stored] == ["first line\nsecond line"]
