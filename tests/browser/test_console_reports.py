"""The reports view for ops in headless Chromium: team charts drawn as SVG (volume by
channel, SLA attainment, CSAT, self-service deflection), each agent's figures, and a
satisfaction survey sent from the page whose answer shows in its figures. Screenshots in
English and Chinese go to test-artifacts/."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, async_playwright, expect

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from gateway.wiring.services import SERVICES
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot_path
from tests.browser.test_console import FakeCrm, no_errors, open_console, serve, sign_in
from tests.cases.support import DAY, Clock
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, BOB_TOKEN, OPS_TOKEN, auth, gateway_config, signed_api_body
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

TIMEOUT = 30_000
ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count(1)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Desk:
    url: str
    http: aiohttp.ClientSession
    crm: FakeCrm
    clock: Clock
    app: web.Application

    async def say(self, user: str, text: str) -> str:
        body, headers = signed_api_body({"id": f"rp-{next(_ids)}", "from": {"id": user}, "text": text})
        async with self.http.post(f"{self.url}/webhooks/api", data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["conversation_id"])

    async def call(self, method: str, path: str, token: str = OPS_TOKEN, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.url}{path}", json=body, headers=auth(token)) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json()

    async def serve_customer(self, user: str, text: str, token: str, after: float, answer: str) -> str:
        cid = await self.say(user, text)
        conv = await self.call("GET", f"/api/v1/conversations/{cid}")
        await self.call(
            "POST", f"/api/v1/conversations/{cid}/claim", token, {"routing_version": conv["routing_version"]}
        )
        self.clock.advance(after)
        await self.call("POST", f"/api/v1/conversations/{cid}/messages", token, {"text": answer})
        return cid

    def told(self, user: str) -> list[str]:
        return [r["text"] for r in self.crm.received if r["to"]["id"] == user]

    async def settle(self) -> None:
        while await self.app[SERVICES].timers.scan_once():
            pass


@pytest_asyncio.fixture(loop_scope="module")
async def desk() -> AsyncIterator[Desk]:
    crm = FakeCrm()
    crm_app = web.Application()
    crm_app.router.add_post("/gateway", crm.handle)
    crm_runner, crm_url = await serve(crm_app)
    clock = Clock()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = gateway_config(
        http={"public_url": url},
        channels={"api": {"secret": API_SECRET, "callback_url": f"{crm_url}/gateway"}},
        reply_tracking={"scan_interval": "50ms", "channels": {"api": "5m"}},
        faq={"file": str(ROOT / "config" / "faq.yaml"), "idle_resolve": "1s"},
        csat={"enabled": True},
    )
    app = build_app(config, store=MemoryStore(), publisher=MemoryPublisher(), clock=clock)
    runner, _ = await serve(app, port)
    async with aiohttp.ClientSession() as http:
        try:
            yield Desk(url=url, http=http, crm=crm, clock=clock, app=app)
        finally:
            await runner.cleanup()
            await crm_runner.cleanup()


async def earlier_days(desk: Desk) -> None:
    """Four days before today: a few customers a day, answered sooner or later, rated."""
    for back, (count, late, score) in enumerate([(3, 1, 4), (5, 2, 3), (2, 0, 5), (4, 1, 4)], start=1):
        desk.clock.offset = -back * DAY
        for n in range(count):
            user = f"d{back}-{n}"
            cid = await desk.serve_customer(user, "付款问题", ALICE_TOKEN, 700 if n < late else 60, "已处理")
            await desk.call("POST", f"/api/v1/conversations/{cid}/resolve", ALICE_TOKEN)
            await desk.settle()
            await eventually(lambda user=user: desk.told(user)[1:])  # the rating request
            await desk.say(user, str(score))
    desk.clock.offset = 0


async def test_ops_read_the_team_charts_and_the_agents_and_send_a_survey(browser: Browser, desk: Desk) -> None:
    await earlier_days(desk)
    # alice answers within the target and resolves, the customer rates 5; bob answers late.
    wang = await desk.serve_customer("wang", "我的付款失败了", ALICE_TOKEN, 90, "您好，我来查一下。")
    await desk.serve_customer("kim", "payment declined", BOB_TOKEN, 600, "Let me check.")
    await desk.call("POST", f"/api/v1/conversations/{wang}/resolve", ALICE_TOKEN)
    await desk.settle()
    await eventually(lambda: any("请为本次服务评分" in t for t in desk.told("wang")))
    await desk.say("wang", "5")
    # The FAQ: one question deflected (it goes quiet), one handed over.
    await desk.say("li", "忘记密码了怎么办")
    await desk.say("zhao", "退款多久到账")
    await eventually(lambda: desk.told("li") and desk.told("zhao"))
    await desk.say("zhao", "转人工")
    desk.clock.advance(5)

    async def deflected() -> bool:
        await desk.settle()
        return (await desk.call("GET", "/api/v1/stats"))["self_service"]["deflected"] == 1

    await eventually(deflected)

    page = await open_console(browser, desk)  # type: ignore[arg-type]
    await sign_in(page, OPS_TOKEN)
    await page.get_by_role("button", name="Reports", exact=True).click()
    charts = page.locator("#rp-charts figure")
    await expect(charts).to_have_count(4, timeout=TIMEOUT)
    await expect(charts.locator("figcaption")).to_have_text(
        [
            "Conversations by channel",
            "SLA attainment (replies within the target)",
            "CSAT (1–5, ratings and surveys)",
            "Self-service: deflected and handed off",
        ]
    )
    volume = charts.nth(0).locator("rect[data-series=api]")
    await expect(volume).to_have_count(5)  # four earlier days and today
    await expect(volume.last.locator("title")).to_contain_text("API: 4")
    await expect(charts.nth(1).locator("circle").last.locator("title")).to_contain_text(": 50%")
    await expect(charts.nth(2).locator("circle").last.locator("title")).to_contain_text(": 5")
    await expect(charts.nth(3).locator("rect[data-series=deflected] title")).to_contain_text("deflected: 1")
    await expect(charts.nth(3).locator("rect[data-series=handed_off] title")).to_contain_text("handed off: 1")
    agents = page.locator("#rp-agents")
    alice = agents.locator("tr[data-agent=alice] td")
    await expect(alice.nth(0)).to_have_text("15")  # handled: 14 on earlier days, 1 today
    await expect(alice.nth(1)).to_have_text("15")  # resolved
    await expect(alice.nth(5)).to_have_text("3.87 (15)")  # CSAT: (4·3 + 3·5 + 5·2 + 4·4 + 5) / 15
    await expect(alice.nth(6)).to_have_text("73.3%")  # SLA: 4 of her 15 replies late
    await expect(agents.locator("tr[data-agent=bob] td").nth(6)).to_have_text("0%")
    # Per day: alice's row unfolds into her days.
    await agents.get_by_role("button", name="alice").click()
    days = agents.locator("tr.day-row[data-agent=alice]")
    await expect(days).to_have_count(5)
    await expect(days.last.locator("td").nth(0)).to_have_text("1")
    await expect(days.first.locator("td").nth(6)).to_have_text("75%")  # 4 days ago: 1 of 4 late

    # A survey to everyone active in the period; an answer shows in its figures.
    await page.get_by_role("button", name="Send survey").click()
    status = page.locator("#sv-status")
    await expect(status).to_contain_text("18 selected", timeout=TIMEOUT)
    await desk.settle()
    await eventually(lambda: any("How satisfied" in t for t in desk.told("kim")))
    await desk.say("kim", "4 quick enough")
    await page.get_by_role("button", name="Refresh").click()
    await expect(status).to_contain_text("1 answered (average 4)", timeout=TIMEOUT)
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#rp-charts figure").nth(2).locator("circle").last.locator("title")).to_contain_text(
        ": 4.5", timeout=TIMEOUT
    )
    await page.set_viewport_size({"width": 1366, "height": 1500})  # the whole view in the picture
    await page.screenshot(path=str(screenshot_path("console-reports-en.png")))
    await page.get_by_role("button", name="中文").click()
    await expect(page.locator("#rp-charts figcaption").first).to_have_text("各渠道会话量")
    await expect(page.locator("#sv-status")).to_contain_text("已回复 1")
    await page.screenshot(path=str(screenshot_path("console-reports-zh.png")))
    no_errors(page)


async def test_agents_have_no_reports_tab(browser: Browser, desk: Desk) -> None:
    page = await open_console(browser, desk)  # type: ignore[arg-type]
    await sign_in(page, ALICE_TOKEN)
    await expect(page.get_by_role("button", name="Cases", exact=True)).to_be_visible(timeout=TIMEOUT)
    await expect(page.get_by_role("button", name="Reports", exact=True)).to_have_count(0)
    no_errors(page)
