"""The console's case views in headless Chromium: an agent opens a case from the
conversation, finds it in the list (overdue cases first) and works it — progress, an
internal note, an extension, a merchant, the resolution — while the customer (the API
channel's callback) and the merchant (a real SMTP relay) get what they should; ops see the
statistics. Screenshots in English and Chinese go to test-artifacts/ (docs/img/ keeps copies).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from gateway.wiring.services import SERVICES
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot_path
from tests.browser.test_console import RULES, FakeCrm, no_errors, open_console, serve, sign_in
from tests.cases.support import DAY, WORKFLOW, Clock, write_workflow
from tests.channels.test_email_support import SUPPORT, RelaySink, start_relay
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, OPS_TOKEN, auth, gateway_config, signed_api_body
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

TIMEOUT = 30_000


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
    relay: RelaySink
    clock: Clock
    app: web.Application

    async def say(self, external_id: str, user: str, name: str, text: str) -> str:
        body, headers = signed_api_body({"id": external_id, "from": {"id": user, "name": name}, "text": text})
        async with self.http.post(f"{self.url}/webhooks/api", data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["conversation_id"])

    async def open_case(self, cid: str, category: str, summary: str) -> dict[str, Any]:
        payload = {"conversation_id": cid, "category": category, "summary": summary}
        async with self.http.post(f"{self.url}/api/v1/cases", json=payload, headers=auth(OPS_TOKEN)) as resp:
            assert resp.status == 201, await resp.text()
            return dict(await resp.json())

    async def case(self, number: str) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/api/v1/cases/{number}", headers=auth(OPS_TOKEN)) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def settle(self) -> None:
        while await self.app[SERVICES].timers.scan_once():
            pass

    async def claim(self, cid: str, token: str) -> None:
        async with self.http.get(f"{self.url}/api/v1/conversations/{cid}", headers=auth(token)) as resp:
            version = (await resp.json())["routing_version"]
        claim = {"routing_version": version}
        async with self.http.post(
            f"{self.url}/api/v1/conversations/{cid}/claim", json=claim, headers=auth(token)
        ) as resp:
            assert resp.status == 200, await resp.text()

    def told(self) -> list[str]:
        return [r["text"] for r in self.crm.received]


@pytest_asyncio.fixture(loop_scope="module")
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    rules = tmp_path / "routing.yaml"
    rules.write_text(RULES, encoding="utf-8")
    relay = await start_relay(RelaySink())
    crm = FakeCrm()
    crm_app = web.Application()
    crm_app.router.add_post("/gateway", crm.handle)
    crm_runner, crm_url = await serve(crm_app)
    clock = Clock()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = gateway_config(
        http={"public_url": url},
        routing={"rules": str(rules)},
        smtp={"enabled": True, "host": "127.0.0.1", "port": 0, "domains": [SUPPORT.split("@")[1]]},
        reply_tracking={"scan_interval": "50ms"},
        cases={"file": str(write_workflow(tmp_path, WORKFLOW))},
        channels={
            "api": {"secret": API_SECRET, "callback_url": f"{crm_url}/gateway"},
            "email": {
                "address": SUPPORT,
                "reply_token_secret": "console-case-token-secret",
                "relay": {"host": "127.0.0.1", "port": relay.port, "starttls": False, "timeout": 5},
            },
        },
    )
    app = build_app(config, store=MemoryStore(), publisher=MemoryPublisher(), clock=clock)
    runner, _ = await serve(app, port)
    async with aiohttp.ClientSession() as http:
        try:
            yield Desk(url=url, http=http, crm=crm, relay=relay, clock=clock, app=app)
        finally:
            await runner.cleanup()
            await crm_runner.cleanup()
            relay.server.close()


async def an_overdue_case(desk: Desk) -> str:
    """A case opened 16 days ago (15 to answer): overdue now, its deadline timers fired."""
    desk.clock.offset = -16 * DAY
    cid = await desk.say("old-1", "zhao", "赵磊", "退款一直没到账")
    number = str((await desk.open_case(cid, "double_charge", "退款 300 元未到账"))["number"])
    desk.clock.offset = 0
    await desk.settle()

    async def is_overdue() -> bool:
        return bool((await desk.case(number))["deadlines"]["overdue"])

    await eventually(is_overdue)
    return number


async def test_an_agent_opens_a_case_and_works_it_in_the_case_views(browser: Browser, desk: Desk) -> None:
    overdue = await an_overdue_case(desk)
    await desk.say("s-1", "chen", "陈静", "建议 App 显示退款进度")
    cid = await desk.say("p-1", "wang", "王芳", "My payment was charged twice for order 2024")
    await desk.claim(cid, ALICE_TOKEN)
    page = await open_console(browser, desk)  # type: ignore[arg-type]
    await sign_in(page, ALICE_TOKEN)
    await page.locator(f"#my-list [data-id='{cid}']").click()
    pane = page.locator("#pane")
    await expect(pane.get_by_role("heading", name="王芳")).to_be_visible(timeout=TIMEOUT)

    # Open a case from the conversation: the customer is told the number and the date.
    await page.get_by_role("button", name="Open case").click()
    await pane.get_by_label("Category").select_option("double_charge")
    await pane.get_by_label("Summary").fill("Order 2024 charged twice, 99 CNY")
    await page.get_by_role("button", name="Open the case").click()
    await expect(page.locator("#action-message")).to_contain_text("opened; answer due", timeout=TIMEOUT)
    number = (await page.locator("#action-message").text_content() or "").split()[1]
    assert number.startswith("CP-")
    await eventually(lambda: any(number in text for text in desk.told()))

    # The list: the overdue case first, with its badge.
    await page.get_by_role("button", name="Cases", exact=True).click()
    items = page.locator("#case-list .case-item")
    await expect(items).to_have_count(2, timeout=TIMEOUT)  # alice's queues: payments and general
    await expect(items.first).to_have_attribute("data-number", overdue)
    await expect(items.first.locator(".badge.overdue")).to_have_text("Overdue")
    await expect(items.first.locator(".due")).to_contain_text("overdue by")
    await page.get_by_label("Overdue only").check()
    await expect(items).to_have_count(1, timeout=TIMEOUT)
    await page.get_by_label("Overdue only").uncheck()
    await expect(items).to_have_count(2, timeout=TIMEOUT)

    # The detail: header, deadlines, the timeline with what the customer was sent.
    await page.locator(f"#case-list [data-number='{number}']").click()
    detail = page.locator("#case-detail")
    await expect(detail.get_by_role("heading", name=number)).to_be_visible(timeout=TIMEOUT)
    await expect(detail.locator("#case-badges")).to_contain_text("double charge")
    await expect(detail.locator("#case-summary")).to_have_text("Order 2024 charged twice, 99 CNY")
    timeline = detail.locator("#case-timeline")
    await expect(timeline.locator("[data-kind=opened]")).to_contain_text("Sent to the customer:")
    await expect(timeline.locator("[data-kind=customer_notified]")).to_have_count(1, timeout=TIMEOUT)

    # Progress the customer hears of, with a new stage.
    await detail.get_by_label("Note", exact=True).fill("We asked the card issuer to confirm the second charge.")
    await detail.get_by_label("Stage", exact=True).select_option("investigating")
    await detail.get_by_role("button", name="Add progress").click()
    await expect(detail.locator("#case-message")).to_have_text("Progress added.", timeout=TIMEOUT)
    await expect(timeline.locator("[data-kind=progress]")).to_contain_text("We asked the card issuer")
    await expect(detail.locator("#case-badges")).to_contain_text("being investigated")
    await eventually(lambda: any("We asked the card issuer" in text for text in desk.told()))

    # An internal note: on the timeline, never sent.
    sent = len(desk.told())
    await detail.get_by_label("Note", exact=True).fill("Issuer hotline says Friday.")
    await detail.get_by_label("Internal note (the customer is not told)").check()
    await detail.get_by_role("button", name="Add progress").click()
    note = timeline.locator("[data-kind=note]")
    await expect(note).to_contain_text("Issuer hotline says Friday.", timeout=TIMEOUT)
    await expect(note.locator(".badge.internal")).to_have_text("internal")

    # An extension: the customer is told the reason and the new date.
    await detail.get_by_role("button", name="Extend", exact=True).click()
    until = date.today() + timedelta(days=25)
    await detail.get_by_label("New deadline").fill(until.isoformat())
    await detail.get_by_label("Reason (the customer is told)").fill("The issuing bank needs more time.")
    await detail.get_by_role("button", name="Extend the deadline").click()
    await expect(detail.locator("#case-message")).to_contain_text("Deadline extended", timeout=TIMEOUT)
    await expect(timeline.locator("[data-kind=extended]")).to_contain_text("The issuing bank needs more time.")
    await eventually(lambda: any("The issuing bank needs more time." in text for text in desk.told()))
    assert not any("Issuer hotline" in text for text in desk.told()[sent:])

    # A merchant: emailed through the relay, shown with the case.
    await detail.get_by_role("button", name="Add merchant").click()
    await detail.get_by_label("Merchant name").fill("Good Shop")
    await detail.get_by_label("Merchant email").fill("refunds@shop.example")
    await detail.get_by_role("button", name="Add and email the merchant").click()
    await expect(detail.locator("#case-parties")).to_contain_text("refunds@shop.example", timeout=TIMEOUT)
    await eventually(lambda: any("refunds@shop.example" in r.rcpt_tos for r in desk.relay.received))
    await expect(timeline.locator("[data-kind=party_mailed]")).to_have_count(1, timeout=TIMEOUT)
    await page.screenshot(path=str(screenshot_path("console-case-en.png")))
    await page.get_by_role("button", name="中文").click()
    await expect(detail.get_by_role("button", name="办结", exact=True)).to_be_visible()
    await expect(items.first.locator(".badge.overdue")).to_have_text("已超期")
    await page.screenshot(path=str(screenshot_path("console-case-zh.png")))
    await page.get_by_role("button", name="English").click()

    # The resolution: the customer is told; the case leaves the open stages.
    await detail.get_by_role("button", name="Resolve", exact=True).click()
    await detail.get_by_label("Resolution (the customer is told)").fill("99 CNY refunded to your card.")
    await detail.get_by_role("button", name="Resolve the case").click()
    await expect(detail.locator("#case-badges")).to_contain_text("resolved", timeout=TIMEOUT)
    await expect(timeline.locator("[data-kind=resolved]")).to_contain_text("on time")
    await expect(detail.get_by_role("button", name="Extend", exact=True)).to_have_count(0)
    await eventually(lambda: any("99 CNY refunded to your card." in text for text in desk.told()))
    case = await desk.case(number)
    assert case["stage"] == "resolved" and case["extensions"] == 1
    assert [p["email"] for p in case["parties"]] == ["refunds@shop.example"]
    assert cid == case["conversation_id"]

    # Back to the conversation from the case.
    await detail.get_by_role("button", name="Open the conversation").click()
    await expect(pane.get_by_role("heading", name="王芳")).to_be_visible(timeout=TIMEOUT)
    no_errors(page)


async def test_ops_see_case_statistics_by_category_in_chinese(browser: Browser, desk: Desk) -> None:
    await an_overdue_case(desk)
    cid = await desk.say("s-2", "chen", "陈静", "建议 App 显示退款进度")
    await desk.open_case(cid, "suggestion", "希望显示退款进度")
    page: Page = await open_console(browser, desk, locale="zh-CN")  # type: ignore[arg-type]
    await sign_in(page, OPS_TOKEN, label="访问令牌", button="登录")
    await page.get_by_role("button", name="案件", exact=True).click()
    table = page.locator("#case-stats-table")
    await expect(table.locator("tr[data-category=double_charge] th")).to_have_text("重复扣款", timeout=TIMEOUT)
    cells = table.locator("tr[data-category=all] td")
    await expect(cells.nth(0)).to_have_text("2")  # received
    await expect(cells.nth(7)).to_have_text("1")  # overdue now
    await expect(table.locator("tr[data-category=suggestion] td").nth(0)).to_have_text("1")
    await expect(page.locator("#case-list .case-item")).to_have_count(2, timeout=TIMEOUT)
    await expect(page.locator("#case-list .case-item").first.locator(".badge.overdue")).to_have_text("已超期")
    await page.screenshot(path=str(screenshot_path("console-case-stats-zh.png")))

    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="下载 CSV").click()
    download = await download_info.value
    saved = await download.path()
    csv = await asyncio.to_thread(Path(saved).read_text, encoding="utf-8-sig")
    assert csv.splitlines()[-1].startswith("all,全部,all,,2,")
    no_errors(page)


async def test_on_a_phone_the_case_list_gives_way_to_the_case_and_back(browser: Browser, desk: Desk) -> None:
    cid = await desk.say("m-1", "liu", "刘洋", "退款三天了还没到")
    number = str((await desk.open_case(cid, "double_charge", "退款未到账"))["number"])
    page = await open_console(  # type: ignore[arg-type]
        browser, desk, locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    await sign_in(page, OPS_TOKEN, label="访问令牌", button="登录")
    await page.get_by_role("button", name="案件", exact=True).tap()
    item = page.locator(f"#case-list [data-number='{number}']")
    await item.tap()
    await expect(page.locator("#case-detail").get_by_role("heading", name=number)).to_be_visible(timeout=TIMEOUT)
    await expect(page.locator("#case-list")).to_be_hidden()
    await page.screenshot(path=str(screenshot_path("console-case-phone-zh.png")))
    await page.get_by_role("button", name="返回").tap()
    await expect(item).to_be_visible()
    no_errors(page)
