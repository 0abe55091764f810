"""The customer's side in the widget, in headless Chromium: "online" only while an agent of
the queue is online (else the office hours and the reply promise), FAQ answers in the
visitor's language only, their place in the queue after asking for a person, and the
rating with 1–5 buttons. Screenshots in Chinese and English go to test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from tests.browser.conftest import Gateway, screenshot_path
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, auth, gateway_config
from tests.servers import free_port

pytestmark = pytest.mark.browser

TIMEOUT = 30_000
ROOT = Path(__file__).resolve().parents[2]
# The shipped rules route to after-hours outside 09:00–18:00 Shanghai time: the gateway's
# clock runs from a Wednesday at 10:00 there.
OPEN_DESK = datetime(2026, 3, 11, 2, 0, tzinfo=UTC).timestamp() - time.time()


@pytest.fixture(params=[True], ids=["desk-open"])
async def desk(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Gateway]:
    """The shipped rules and FAQ; the clock in office hours unless the test says False."""
    shift = OPEN_DESK if request.param else 0.0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = gateway_config(
        http={"public_url": url},
        routing={"rules": str(ROOT / "config" / "routing.yaml")},
        faq={"file": str(ROOT / "config" / "faq.yaml")},
        csat={"enabled": True},
        reply_tracking={"scan_interval": "50ms", "channels": {"webchat": "10m"}},
        channels={"webchat": {"allowed_origins": [url]}},
    )
    store = MemoryStore()
    app = build_app(config, store=store, publisher=MemoryPublisher(), clock=lambda: time.time() + shift)
    await aiohttp_server(app, port=port)
    async with aiohttp.ClientSession() as http:
        yield Gateway(url=url, http=http, store=store)


async def open_chat(browser: Browser, desk: Gateway, locale: str, query: str = "") -> Page:
    context = await browser.new_context(locale=locale, viewport={"width": 1100, "height": 760})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{desk.url}/chat{query}")
    await expect(page.get_by_role("dialog")).to_be_visible(timeout=TIMEOUT)
    return page


async def post(desk: Gateway, path: str, body: dict[str, Any] | None = None) -> Any:
    async with desk.http.post(f"{desk.url}{path}", json=body, headers=auth(ALICE_TOKEN)) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.content_type == "application/json" else None


async def test_away_shows_office_hours_then_online_with_an_agent(browser: Browser, desk: Gateway) -> None:
    page = await open_chat(browser, desk, "en-US", "?lang=en")
    dialog = page.get_by_role("dialog", name="Support")
    await expect(dialog.get_by_role("status")).to_have_text("No agent online", timeout=TIMEOUT)
    notice = dialog.get_by_role("note")
    await expect(notice).to_contain_text("Office hours: Mon–Fri 09:00-12:00, 13:00-18:00 (Asia/Shanghai)")
    await expect(notice).to_contain_text("Leave us a message: we reply within 10 min.")
    await page.screenshot(path=str(screenshot_path("webchat-away-en.png")))

    await desk.agent_online("alice")
    await page.reload()
    await expect(page.get_by_role("dialog").get_by_role("status")).to_have_text("Online", timeout=TIMEOUT)
    await expect(page.get_by_role("dialog").get_by_role("note")).to_be_hidden()
    async with desk.http.get(f"{desk.url}/webchat/availability?lang=zh&queue=disputes") as resp:
        body = await resp.json()  # bob serves disputes, and bob is not online
    assert body["online"] is False and body["office_hours"].startswith("服务时间：周一至周五")
    assert body["reply_promise"] == "请留言，我们会在 10 分钟 内回复您。"
    assert page.errors == []  # type: ignore[attr-defined]


async def test_faq_in_chinese_only_then_the_place_in_the_queue(browser: Browser, desk: Gateway) -> None:
    await desk.agent_online("bob")  # bob serves the general queues, not Chinese payments
    page = await open_chat(browser, desk, "zh-CN", "?lang=zh")
    dialog = page.get_by_role("dialog", name="在线客服")
    await expect(dialog.get_by_role("status")).to_have_text("在线", timeout=TIMEOUT)
    box = page.get_by_label("消息", exact=True)
    await box.fill("付款失败了怎么办？")
    await box.press("Enter")
    bot = page.locator("li.agent .bubble")
    await expect(bot.first).to_contain_text("付款失败常见原因", timeout=TIMEOUT)
    await expect(bot.first).not_to_contain_text("A payment usually fails")  # the visitor's language only
    await expect(bot.first).not_to_contain_text("Reply")

    await box.fill("转人工")
    await box.press("Enter")
    await expect(bot).to_have_count(2, timeout=TIMEOUT)
    await expect(bot.nth(1)).to_contain_text("正在为您转接人工客服")
    await expect(bot.nth(1)).to_contain_text("您是下一位。")
    await expect(bot.nth(1)).to_contain_text("目前暂无客服在线")
    [conv] = await eventually(desk.webchat_conversations)
    assert conv["queue"] == "payments-zh" and conv["priority"] == 6  # routed on the question asked first
    await page.reload()  # the widget asks again with its token: nobody of payments-zh is online
    await expect(page.get_by_role("dialog").get_by_role("status")).to_have_text("暂无客服在线", timeout=TIMEOUT)
    await expect(bot.nth(1)).to_contain_text("您是下一位。", timeout=TIMEOUT)
    await page.locator("li.agent .meta").last.scroll_into_view_if_needed()
    await page.screenshot(path=str(screenshot_path("webchat-queue-zh.png")))
    assert page.errors == []  # type: ignore[attr-defined]


# The real clock: the visitor's browser and the gateway agree on the order of messages.
@pytest.mark.parametrize("desk", [False], ids=["real-clock"], indirect=True)
async def test_rating_with_buttons_in_chinese(browser: Browser, desk: Gateway) -> None:
    await desk.agent_online("alice")
    page = await open_chat(browser, desk, "zh-CN", "?lang=zh")
    await expect(page.get_by_role("dialog").get_by_role("status")).to_have_text("在线", timeout=TIMEOUT)
    box = page.get_by_label("消息", exact=True)
    await box.fill("我的订单付款后一直显示未支付，请人工帮我看看")
    await box.press("Enter")
    bot = page.locator("li.agent .bubble")
    [conv] = await eventually(desk.webchat_conversations)

    # alice answers and resolves: the rating request comes with 1–5 buttons.
    await post(desk, f"/api/v1/conversations/{conv['id']}/claim", {"routing_version": conv["routing_version"]})
    await post(desk, f"/api/v1/conversations/{conv['id']}/messages", {"text": "您好，我来帮您查一下这笔付款。"})
    await post(desk, f"/api/v1/conversations/{conv['id']}/resolve")
    rating = page.locator(".rating")
    await expect(rating.get_by_role("button")).to_have_text(["1", "2", "3", "4", "5"], timeout=TIMEOUT)
    await expect(rating).to_have_attribute("aria-label", "您的评分")
    await expect(bot.last).to_contain_text("请为本次服务评分")
    await expect(bot.last).not_to_contain_text("Please rate")
    await page.screenshot(path=str(screenshot_path("webchat-rating-zh.png")))
    await rating.get_by_role("button", name="5 分（满分 5 分） · 非常满意").click()
    await expect(page.locator("li.mine .bubble").last).to_have_text("5", timeout=TIMEOUT)
    await expect(bot.last).to_have_text("感谢您的评价！", timeout=TIMEOUT)
    await expect(rating.get_by_role("button", name="5 分（满分 5 分） · 非常满意")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(rating.get_by_role("button").first).to_be_disabled()

    async def rated() -> Any:
        async with desk.http.get(f"{desk.url}/api/v1/conversations/{conv['id']}", headers=auth()) as resp:
            found = await resp.json()
        return found if found["attributes"].get("rating") else None

    found = await eventually(rated)
    assert found["attributes"]["rating"]["score"] == 5 and found["status"] == "resolved"  # not reopened

    await page.reload()  # from the history: the request's buttons are done
    await expect(page.locator(".rating").get_by_role("button").first).to_be_disabled(timeout=TIMEOUT)
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("desk", [False], ids=["real-clock"], indirect=True)
async def test_english_rating_buttons_after_an_agents_answer(browser: Browser, desk: Gateway) -> None:
    await desk.agent_online("alice")
    page = await open_chat(browser, desk, "en-US", "?lang=en")
    await expect(page.get_by_role("dialog").get_by_role("status")).to_have_text("Online", timeout=TIMEOUT)
    box = page.get_by_label("Message", exact=True)
    await box.fill("My payment was declined twice and I need help with my order")
    await box.press("Enter")
    [conv] = await eventually(desk.webchat_conversations)
    await post(desk, f"/api/v1/conversations/{conv['id']}/claim", {"routing_version": conv["routing_version"]})
    await post(desk, f"/api/v1/conversations/{conv['id']}/messages", {"text": "Done: the order is paid now."})
    await post(desk, f"/api/v1/conversations/{conv['id']}/resolve")
    rating = page.locator(".rating")
    await expect(rating.get_by_role("button")).to_have_count(5, timeout=TIMEOUT)
    await expect(page.locator("li.agent .bubble").last).to_contain_text("Please rate our service")
    await expect(page.locator("li.agent .bubble").last).not_to_contain_text("请为本次服务评分")
    await page.screenshot(path=str(screenshot_path("webchat-rating-en.png")))
    await rating.get_by_role("button", name="4 of 5 · good").click()
    await expect(page.locator("li.agent .bubble").last).to_have_text("Thank you for your feedback!", timeout=TIMEOUT)
    assert page.errors == []  # type: ignore[attr-defined]
