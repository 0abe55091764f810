"""The console as agents and ops use it: headless Chromium against a gateway on a real port.

One browser for the module; each test gets its own gateway (memory storage and broker,
a small rules file) and, where replies go out, fake providers as real local servers.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
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
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot_path
from tests.channels.social_fakes import FakeProvider, hub_signature
from tests.helpers import ALICE_TOKEN, API_SECRET, OPS_TOKEN, auth, gateway_config, signed_api_body
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

TIMEOUT = 30_000  # ms: generous for Chromium on a busy machine
WA_SECRET = "wa-console-app-secret"
WANG_PHONE = "8613800138000"

RULES = """\
version: 1
skills: [payments, accounts, chinese]
queues:
  payments: {skills: {payments: 2}}
  accounts: {skills: {accounts: 2}}
  general: {}
agents:
  alice: {skills: {payments: 4, chinese: 5}, capacity: 3}
  bob: {skills: {accounts: 4}, capacity: 3}
defaults:
  targets: [{queue: general}]
rules:
  - name: payments
    when: {keywords: [付款, payment]}
    targets: [{queue: payments, priority: 6}]
  - name: accounts
    when: {keywords: [账户, account]}
    targets: [{queue: accounts, priority: 5}]
"""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def serve(app: web.Application, port: int | None = None) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


class FakeCrm:
    """The API channel's callback_url: takes every reply."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.read()))
        return web.json_response({"ok": True})


def graph_answer(request: Any) -> tuple[int, Any]:
    return 200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.OUT{time.monotonic_ns()}"}]}


@dataclass
class Gateway:
    url: str
    http: aiohttp.ClientSession
    graph: FakeProvider
    crm: FakeCrm
    runners: list[web.AppRunner] = field(default_factory=list)

    async def api_message(
        self, external_id: str, text: str, attachments: list[dict[str, Any]] | None = None, **sender: Any
    ) -> dict[str, Any]:
        payload = {"id": external_id, "from": sender, "text": text, "attachments": attachments or []}
        body, headers = signed_api_body(payload)
        async with self.http.post(f"{self.url}/webhooks/api", data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def whatsapp_message(self, wamid: str, text: str, *, seconds_ago: float = 0, name: str = "王小明") -> None:
        await self.whatsapp({"type": "text", "text": {"body": text}}, wamid, seconds_ago=seconds_ago, name=name)

    async def whatsapp(self, kind: dict[str, Any], wamid: str, *, seconds_ago: float = 0, name: str = "王小明") -> None:
        """One WhatsApp message of any kind (``kind``: its type and content) from Wang."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": name}, "wa_id": WANG_PHONE}],
            "messages": [{"from": WANG_PHONE, "id": wamid, "timestamp": str(int(time.time() - seconds_ago)), **kind}],
        }
        payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"value": value}]}]}
        body = json.dumps(payload).encode()
        headers = {"X-Hub-Signature-256": hub_signature(WA_SECRET, body), "Content-Type": "application/json"}
        async with self.http.post(f"{self.url}/webhooks/whatsapp", data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()

    async def get(self, path: str, token: str = OPS_TOKEN) -> Any:
        async with self.http.get(f"{self.url}{path}", headers=auth(token)) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


@pytest_asyncio.fixture(loop_scope="module")
async def make_gateway(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    rules = tmp_path / "routing.yaml"
    rules.write_text(RULES, encoding="utf-8")
    made: list[Gateway] = []
    http = aiohttp.ClientSession()

    async def make(*, crm: bool = True, reply_tracking: dict[str, Any] | None = None) -> Gateway:
        graph, fake_crm = FakeProvider(graph_answer), FakeCrm()
        graph_runner, graph_url = await serve(graph.app())
        crm_app = web.Application()
        crm_app.router.add_post("/gateway", fake_crm.handle)
        crm_runner, crm_url = await serve(crm_app)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = gateway_config(
            http={"public_url": url},
            routing={"rules": str(rules)},
            reply_tracking={"scan_interval": "50ms", **(reply_tracking or {})},
            channels={
                "api": {"secret": API_SECRET, **({"callback_url": f"{crm_url}/gateway"} if crm else {})},
                "whatsapp": {
                    "app_secret": WA_SECRET,
                    "verify_token": "wa-verify-012345",
                    "access_token": "wa-access",
                    "phone_number_id": "106540352242922",
                    "api_base_url": f"{graph_url}/v21.0",
                },
            },
        )
        runner, _ = await serve(build_app(config, store=MemoryStore(), publisher=MemoryPublisher()), port)
        gateway = Gateway(url=url, http=http, graph=graph, crm=fake_crm, runners=[runner, graph_runner, crm_runner])
        made.append(gateway)
        return gateway

    try:
        yield make
    finally:
        for gateway in made:
            for runner in gateway.runners:
                await runner.cleanup()
        await http.close()


async def open_console(browser: Browser, gateway: Gateway, **context: Any) -> Page:
    options = {"locale": "en-GB", "viewport": {"width": 1366, "height": 800}, **context}
    page = await (await browser.new_context(**options)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{gateway.url}/console")
    return page


async def sign_in(page: Page, token: str, *, label: str = "Access token", button: str = "Sign in") -> None:
    await page.get_by_label(label).fill(token)
    await page.get_by_role("button", name=button).click()


def no_errors(page: Page, *expected_statuses: int) -> None:
    """No script error, and no failed request but the refusals the test provoked."""
    allowed = tuple(f"status of {status} " for status in expected_statuses)
    unexpected = [e for e in page.errors if not (allowed and any(a in e for a in allowed))]  # type: ignore[attr-defined]
    assert unexpected == [], unexpected


async def test_an_agent_takes_the_next_conversation_sees_the_history_replies_and_resolves(
    browser: Browser, make_gateway: Callable[..., Any]
) -> None:
    gateway = await make_gateway()
    await gateway.whatsapp_message("wamid.EARLIER", "在吗？我想问一下", seconds_ago=3600)
    await gateway.api_message(
        "crm-1",
        "我的付款失败了，卡号 4111 1111 1111 1111",
        attachments=[
            {"url": "https://files.example.com/receipt.png", "content_type": "image/png", "name": "receipt.png"},
            {"url": "javascript:alert(1)", "name": "<img src=x onerror=alert(1)>"},
        ],
        id="wang-crm",
        name="王小明",
        phone=f"+{WANG_PHONE}",
        email="Wang.XM@example.com",
    )
    page = await open_console(browser, gateway)
    await sign_in(page, ALICE_TOKEN)

    queues = page.locator("#queue-list")
    await expect(queues.locator("[data-queue=payments] .depth")).to_have_text("1", timeout=TIMEOUT)
    await expect(queues.locator("[data-queue=general] .depth")).to_have_text("1")
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=TIMEOUT)

    await page.get_by_role("button", name="Take next").click()
    pane = page.locator("#pane")
    await expect(pane.get_by_role("heading", name="王小明")).to_be_visible(timeout=TIMEOUT)
    await expect(pane.locator("#conv-badges")).to_contain_text("API")
    await expect(queues.locator("[data-queue=payments] .depth")).to_have_text("0", timeout=TIMEOUT)
    await expect(page.locator("#my-list .conv-item")).to_have_count(1)

    # The whole history: the WhatsApp conversation before this one, then this one.
    messages = pane.locator("#messages")
    await expect(messages.locator(".divider")).to_have_count(2)
    await expect(messages.locator(".divider").first).to_contain_text("WhatsApp")
    await expect(messages.locator(".msg.customer .text")).to_have_text(
        ["在吗？我想问一下", "我的付款失败了，卡号 **** **** **** 1111"]
    )
    attachments = messages.locator(".attachments li")
    await expect(attachments.get_by_role("link", name="receipt.png")).to_have_attribute(
        "href", "https://files.example.com/receipt.png"
    )
    await expect(attachments.nth(1)).to_have_text("<img src=x onerror=alert(1)>")  # text, not markup
    await expect(attachments.nth(1).get_by_role("link")).to_have_count(0)  # and no javascript: link
    identities = pane.locator("#identities")
    await expect(identities).to_contain_text("+8613800138000")
    await expect(identities).to_contain_text("wang.xm@example.com")
    await expect(identities).to_contain_text("wang-crm")
    await expect(pane.locator("#others")).to_contain_text("WhatsApp")
    await expect(pane.locator("#routing-facts")).to_contain_text("payments")
    await expect(pane.locator("#explanation li").first).to_be_visible()
    countdown = pane.get_by_role("timer")
    await expect(countdown).to_contain_text("Reply within 23 h 59 m")
    await expect(countdown).to_have_class("countdown ok")
    await page.screenshot(path=str(screenshot_path("console-agent-desktop-en.png")))
    await page.get_by_role("button", name="中文").click()
    await expect(countdown).to_contain_text("需在 23小时59分 内回复")
    await expect(page.get_by_role("button", name="接入下一个")).to_be_visible()
    await page.screenshot(path=str(screenshot_path("console-agent-desktop-zh.png")))
    await page.get_by_role("button", name="English").click()

    await page.get_by_label("Message", exact=True).fill("您好，我们正在为您查询这笔付款。")
    await page.get_by_role("button", name="Send", exact=True).click()
    mine = messages.locator(".msg.agent")
    await expect(mine.locator(".text")).to_have_text("您好，我们正在为您查询这笔付款。", timeout=TIMEOUT)
    await expect(mine.locator(".delivery")).to_have_text("sent", timeout=TIMEOUT)  # live: message.status
    await expect(mine.locator(".author")).to_contain_text("alice")
    await expect(countdown).to_have_text("No reply due")
    assert [r["text"] for r in gateway.crm.received] == ["您好，我们正在为您查询这笔付款。"]

    await page.get_by_role("button", name="Internal note").click()
    await page.get_by_label("Message", exact=True).fill("Customer says the card is fine; check the acquirer.")
    await page.get_by_role("button", name="Add note").click()
    await expect(messages.locator(".msg.note .text")).to_have_text(
        "Customer says the card is fine; check the acquirer.", timeout=TIMEOUT
    )
    await expect(messages.locator(".msg.note .author")).to_contain_text("Internal note")

    await page.get_by_role("button", name="Resolve").click()
    await expect(pane.locator("#conv-badges")).to_contain_text("Resolved", timeout=TIMEOUT)
    await expect(page.locator("#my-list .conv-item")).to_have_count(0, timeout=TIMEOUT)
    assert len(gateway.crm.received) == 1  # the note went nowhere
    no_errors(page)


async def test_a_channel_that_cannot_send_says_so_and_the_agent_transfers_the_conversation(
    browser: Browser, make_gateway: Callable[..., Any]
) -> None:
    gateway = await make_gateway(crm=False)  # the API channel has no callback_url: 501
    cid = (await gateway.api_message("crm-2", "payment declined twice", id="lee", name="Lee Min"))["conversation_id"]
    page = await open_console(browser, gateway)
    await sign_in(page, ALICE_TOKEN)
    await page.get_by_role("button", name="Take next").click()
    await expect(page.locator("#pane").get_by_role("heading", name="Lee Min")).to_be_visible(timeout=TIMEOUT)

    await page.get_by_label("Message", exact=True).fill("Let me check that for you.")
    await page.get_by_role("button", name="Send", exact=True).click()
    error = page.locator("#composer-error")
    await expect(error).to_contain_text("This channel cannot send replies", timeout=TIMEOUT)
    await expect(error).to_contain_text("not configured to send replies")
    await expect(page.get_by_label("Message", exact=True)).to_have_value("Let me check that for you.")  # kept

    await page.get_by_label("Transfer to").select_option("accounts")
    await page.get_by_role("button", name="Transfer", exact=True).click()
    await expect(page.locator("#action-message")).to_have_text("Transferred to accounts.", timeout=TIMEOUT)
    await expect(page.locator("#conv-meta")).to_contain_text("Queue accounts · waiting for an agent")
    await expect(page.locator("#my-list .conv-item")).to_have_count(0, timeout=TIMEOUT)
    conv = await gateway.get(f"/api/v1/conversations/{cid}")
    assert (conv["queue"], conv["assignee"]) == ("accounts", None)
    no_errors(page, 501)


async def test_after_the_whatsapp_window_the_agent_sends_a_template(
    browser: Browser, make_gateway: Callable[..., Any]
) -> None:
    gateway = await make_gateway()
    await gateway.whatsapp_message("wamid.LATE", "我的付款还没到账", seconds_ago=25 * 3600)
    page = await open_console(browser, gateway)
    await sign_in(page, ALICE_TOKEN)
    await page.get_by_role("button", name="Take next").click()
    pane = page.locator("#pane")
    await expect(pane.locator("#window")).to_have_text("WhatsApp window closed", timeout=TIMEOUT)
    notice = pane.get_by_role("note")
    await expect(notice).to_contain_text("Messaging window closed")
    await expect(notice).to_contain_text("send an approved template")
    await expect(page.get_by_label("Message", exact=True)).to_be_hidden()  # no free text after the window

    await page.get_by_label("Template name").fill("payment_followup")
    await page.get_by_label("Language", exact=True).fill("zh_CN")
    await page.get_by_label("Parameters (one a line)").fill("王小明\nORD-2024-0001")
    await page.screenshot(path=str(screenshot_path("console-window-closed-en.png")))
    await page.get_by_role("button", name="Send template").click()
    sent = pane.locator(".msg.agent")
    await expect(sent.locator(".template")).to_have_text(
        "Template payment_followup (zh_CN): 王小明, ORD-2024-0001", timeout=TIMEOUT
    )
    await expect(sent.locator(".delivery")).to_have_text("sent", timeout=TIMEOUT)
    [request] = gateway.graph.to("/messages")
    assert request.json["type"] == "template" and request.json["template"]["name"] == "payment_followup"
    no_errors(page)


async def test_a_new_customer_message_and_a_new_conversation_arrive_without_a_reload(
    browser: Browser, make_gateway: Callable[..., Any]
) -> None:
    gateway = await make_gateway()
    await gateway.api_message("live-1", "payment failed", id="kim", name="Kim")
    page = await open_console(browser, gateway)
    await sign_in(page, ALICE_TOKEN)
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=TIMEOUT)
    await page.get_by_role("button", name="Take next").click()
    messages = page.locator("#messages .msg.customer .text")
    await expect(messages).to_have_text(["payment failed"], timeout=TIMEOUT)
    await page.evaluate("window.__sameDocument = true")

    await gateway.api_message("live-2", "still failing, card ending 4242", id="kim", name="Kim")
    await expect(messages).to_have_text(["payment failed", "still failing, card ending 4242"], timeout=TIMEOUT)
    await expect(page.locator("#my-list .line2")).to_have_text("still failing, card ending 4242")
    depth = page.locator("#queue-list [data-queue=payments] .depth")
    await expect(depth).to_have_text("0")
    await gateway.api_message("live-3", "another payment problem", id="park", name="Park")
    await expect(depth).to_have_text("1", timeout=TIMEOUT)
    assert await page.evaluate("window.__sameDocument") is True  # no reload happened
    no_errors(page)


async def test_a_customers_edit_and_deletion_show_live_on_the_message(
    browser: Browser, make_gateway: Callable[..., Any]
) -> None:
    gateway = await make_gateway()
    await gateway.whatsapp_message("wamid.ED1", "付款 100 元失败")
    page = await open_console(browser, gateway)
    await sign_in(page, ALICE_TOKEN)
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=TIMEOUT)
    await page.get_by_role("button", name="Take next").click()
    customer = page.locator("#messages .msg.customer")
    await expect(customer.locator(".text")).to_have_text(["付款 100 元失败"], timeout=TIMEOUT)
    edit = {"original_message_id": "wamid.ED1", "message": {"type": "text", "text": {"body": "付款 1000 元失败"}}}
    await gateway.whatsapp({"type": "edit", "edit": edit}, "wamid.ED2")
    await expect(customer.locator(".text")).to_have_text(["付款 1000 元失败"], timeout=TIMEOUT)
    await expect(customer.locator(".changed")).to_have_text("edited by the customer; it first read: 付款 100 元失败")
    await gateway.whatsapp({"type": "revoke", "revoke": {"original_message_id": "wamid.ED1"}}, "wamid.ED3")
    await expect(customer.locator(".changed").last).to_have_text("deleted by the customer", timeout=TIMEOUT)
    await expect(customer).to_have_count(1)  # changes, not new messages
    no_errors(page)


async def test_the_console_speaks_chinese_by_default_and_switches_to_english(
    browser: Browser, make_gateway: Callable[..., Any]
) -> None:
    gateway = await make_gateway(reply_tracking={"channels": {"whatsapp": "2s"}})
    await gateway.whatsapp_message("wamid.ZH", "你好，我的账户付款被拒绝了，请帮我看看是什么原因。")
    page = await open_console(
        browser,
        gateway,
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    await expect(page.get_by_role("heading", name="客服工作台")).to_be_visible()
    await page.screenshot(path=str(screenshot_path("console-signin-phone-zh.png")))
    await sign_in(page, ALICE_TOKEN, label="访问令牌", button="登录")
    await page.get_by_role("button", name="接入下一个").tap()
    pane = page.locator("#pane")
    await expect(pane.get_by_role("heading", name="王小明")).to_be_visible(timeout=TIMEOUT)
    await expect(page.locator("#agent-side")).to_be_hidden()  # the conversation has the whole phone
    countdown = pane.get_by_role("timer")
    await expect(countdown).to_contain_text("回复已超时", timeout=TIMEOUT)  # a 2 s target: overdue, red
    await expect(countdown).to_have_class("countdown overdue")
    await expect(pane.locator("#window")).to_contain_text("WhatsApp 会话窗口")
    send = await page.get_by_role("button", name="发送", exact=True).bounding_box()
    assert send is not None and send["x"] + send["width"] <= 390 and send["height"] >= 36
    await page.screenshot(path=str(screenshot_path("console-agent-phone-zh.png")))

    await page.get_by_role("button", name="English").tap()
    await expect(countdown).to_contain_text("Reply overdue by")
    await expect(page.get_by_role("button", name="Resolve")).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await page.screenshot(path=str(screenshot_path("console-agent-phone-en.png")))
    await page.get_by_role("button", name="Back").tap()
    await expect(page.locator("#agent-side")).to_be_visible()

    # The choice sticks; the token stays in this tab's sessionStorage, never in the URL.
    await page.reload()
    await expect(page.get_by_role("button", name="Take next")).to_be_visible(timeout=TIMEOUT)
    assert "token" not in page.url and ALICE_TOKEN not in page.url
    assert await page.evaluate("sessionStorage.getItem('gateway.console.token')") == ALICE_TOKEN
    assert await page.evaluate("localStorage.getItem('gateway.console.token')") is None
    no_errors(page)


async def test_ops_see_queue_health_an_overdue_conversation_the_rules_and_simulate(
    browser: Browser, make_gateway: Callable[..., Any]
) -> None:
    gateway = await make_gateway(reply_tracking={"channels": {"whatsapp": "1s"}})
    await gateway.whatsapp_message("wamid.OPS", "账户被锁了")
    await gateway.api_message("ops-1", "payment failed", id="kim", name="Kim")
    await gateway.api_message("ops-2", "payment failed again", id="park", name="Park")
    version = (await gateway.get("/api/v1/routing/rules"))["version"]
    page = await open_console(browser, gateway, viewport={"width": 1440, "height": 900})
    await sign_in(page, OPS_TOKEN)

    table = page.get_by_role("table")
    await expect(table.locator("tr[data-queue=payments] .depth-cell")).to_have_text("2", timeout=TIMEOUT)
    await expect(table.locator("tr[data-queue=payments]")).to_contain_text("alice")
    await expect(table.locator("tr[data-queue=accounts]")).to_contain_text("bob")
    overdue = page.locator("#overdue-list .conv-item")
    await expect(overdue).to_have_count(1, timeout=TIMEOUT)  # the 1 s WhatsApp target passed
    await expect(overdue.locator(".due")).to_have_class("due overdue")
    await expect(page.locator(".rules-version")).to_have_text(version)
    await expect(page.locator("#take-next")).to_be_hidden()

    await page.get_by_label("Channel").select_option("sms")
    await page.get_by_label("Text", exact=True).fill("我的账户登录不了")
    await page.get_by_label("Attributes").fill("contact.tier=vip")
    await page.get_by_role("button", name="Route it").click()
    result = page.locator("#sim-result")
    await expect(result.locator(".sim-queue")).to_have_text("accounts", timeout=TIMEOUT)
    await expect(result.locator(".sim-rule")).to_have_text("accounts")
    await expect(result.locator(".explanation li").first).to_be_visible()
    await page.screenshot(path=str(screenshot_path("console-ops-desktop-en.png")))

    await overdue.click()
    pane = page.locator("#pane")
    await expect(pane.get_by_role("timer")).to_contain_text("Reply overdue by", timeout=TIMEOUT)
    await expect(page.get_by_role("button", name="Reply", exact=True)).to_be_hidden()  # ops write notes only
    await page.screenshot(path=str(screenshot_path("console-ops-conversation-en.png")))
    await page.get_by_role("button", name="中文").click()
    await expect(page.get_by_role("heading", name="队列状况")).to_be_visible()
    await expect(pane.get_by_role("timer")).to_contain_text("回复已超时")
    await page.screenshot(path=str(screenshot_path("console-ops-conversation-zh.png")))
    no_errors(page)


async def test_a_wrong_token_is_refused_and_nothing_is_kept(browser: Browser, make_gateway: Callable[..., Any]) -> None:
    gateway = await make_gateway()
    page = await open_console(browser, gateway)
    await sign_in(page, "not-a-token")
    await expect(page.get_by_role("alert")).to_have_text("This token was not accepted.", timeout=TIMEOUT)
    await expect(page.locator("#workspace")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('gateway.console.token')") is None
    assert "not-a-token" not in page.url
