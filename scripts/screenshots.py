"""Takes the README's screenshots against a running demo gateway (see scripts/screenshots).

A customer, 李雷, mailed about an invoice last week; today he opens the web chat on the
demo page, gets the FAQ's answer about a failed payment, asks for a person, and alice
answers him from the console. Two pictures come out: the console as alice sees that
conversation, and the chat panel as the customer sees it. Then two more customers write
through the API channel, and alice's inbox is taken in English and in Chinese
(docs/img/console-inbox-en.png, console-inbox-zh.png, for docs/agent-guide.md).

Usage: .venv/bin/python scripts/screenshots.py GATEWAY_URL SMTP_PORT OUT_DIR
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import sys
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT = 15_000  # ms
CUSTOMER, EMAIL = "李雷", "li.lei@example.com"
AGENT_TOKEN = "alice-dev-token"
# The history scrolls in its own box; show its end, where the reply is.
SCROLL_TO_END = (
    "() => { for (let e = document.getElementById('messages'); e; e = e.parentElement) e.scrollTop = e.scrollHeight; }"
)


API_SECRET = "api-dev-secret-demo"  # config/gateway.yaml's demo default


def api_message(url: str, external_id: str, user: str, name: str, text: str) -> None:
    """A customer message through the signed API channel, as a CRM would send it."""
    body = json.dumps({"id": external_id, "from": {"id": user, "name": name}, "text": text}).encode()
    signature = "sha256=" + hmac.new(API_SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{url}/webhooks/api",
        data=body,
        headers={"Content-Type": "application/json", "X-Gateway-Signature": signature},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        resp.read()


async def inbox_pictures(browser: Browser, url: str, out: Path) -> None:
    """alice's inbox with two customers waiting, in English and in Chinese."""
    api_message(url, "shot-1", "crm-2001", "Maria Lopez", "My card payment failed twice, was I charged?")
    api_message(url, "shot-2", "crm-2002", "王芳", "付款失败了，钱扣了但订单没成功")
    api_message(url, "shot-3", "crm-2003", "Tom Baker", "Hello, how do I change my email address?")
    context = await browser.new_context(locale="en-GB", viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(f"{url}/console")
    await page.get_by_label("Access token").fill(AGENT_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    rows = page.locator("#inbox .inbox-item")
    await expect(rows.first).to_be_visible(timeout=TIMEOUT)
    await rows.first.click()  # pick: claims the most urgent and opens it
    await expect(page.locator("#pane")).to_be_visible(timeout=TIMEOUT)
    await page.get_by_role("button", name="Canned replies").click()
    await page.get_by_label("Search canned replies").fill("refund")
    await expect(page.locator("#canned .canned-item").first).to_contain_text("退款", timeout=TIMEOUT)
    await expect(page.locator("#canned .canned-item")).to_have_count(1, timeout=TIMEOUT)
    await page.screenshot(path=str(out / "console-inbox-en.png"))
    await page.get_by_role("button", name="中文").click()
    await expect(page.get_by_role("tab", name="等待中")).to_be_visible(timeout=TIMEOUT)
    await page.screenshot(path=str(out / "console-inbox-zh.png"))
    await context.close()


def earlier_mail(smtp_port: int) -> None:
    """The customer's earlier email, so the console shows a history across channels."""
    mail = EmailMessage()
    mail["From"] = f"{CUSTOMER} <{EMAIL}>"
    mail["To"] = "support@support.example.com"
    mail["Subject"] = "发票抬头修改"
    mail.set_content("你好，上个月的发票抬头写错了，请改成「李雷商贸有限公司」。谢谢！")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.send_message(mail)


async def chat_as_customer(browser: Browser, url: str) -> Page:
    """Opens the demo page, leaves a name and email, writes, and asks for a person."""
    # A phone: the panel fills the screen, so the whole exchange is in the picture.
    context = await browser.new_context(
        locale="zh-CN", viewport={"width": 400, "height": 1120}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    await page.goto(f"{url}/chat?lang=zh")
    dialog = page.get_by_role("dialog", name="在线客服")
    await expect(dialog.get_by_role("status")).to_have_text("在线", timeout=TIMEOUT)
    await page.get_by_text("您的姓名、邮箱和手机号（可选）").click()
    await page.get_by_label("姓名").fill(CUSTOMER)
    await page.get_by_label("邮箱").fill(EMAIL)
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_text("已保存")).to_be_visible(timeout=TIMEOUT)
    # A returning visitor: the name and email now go with the first message (hello).
    await page.reload()
    await expect(dialog.get_by_role("status")).to_have_text("在线", timeout=TIMEOUT)
    box = page.get_by_label("消息", exact=True)
    await box.fill("你好，我昨天在商城付款失败了，但是银行卡好像被扣钱了")
    await box.press("Enter")
    answers = page.locator("li:not(.mine) .bubble")
    await expect(answers.first).to_contain_text("付款失败", timeout=TIMEOUT)  # the FAQ's answer
    await box.fill("扣款还是没退回来，请转人工")
    await box.press("Enter")
    await expect(answers).to_have_count(2, timeout=TIMEOUT)  # the handoff confirmation
    return page


async def agent_signs_in(browser: Browser, url: str) -> Page:
    """alice opens the console first: with it open she is online, and the widget says so."""
    context = await browser.new_context(locale="en-GB", viewport={"width": 1440, "height": 1000})
    page = await context.new_page()
    await page.goto(f"{url}/console")
    await page.get_by_label("Access token").fill(AGENT_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=TIMEOUT)
    return page


async def answer_as_agent(page: Page, out: Path) -> None:
    """alice opens the conversation and replies; the picture is taken."""
    await page.get_by_role("button", name="Take next").click()
    pane = page.locator("#pane")
    await expect(pane.get_by_role("heading", name=CUSTOMER)).to_be_visible(timeout=TIMEOUT)
    # A typed email is the visitor's claim, not proof (docs/verification.md): the web chat
    # no longer joins the mailed contact, so the history holds the web chat alone.
    await expect(pane.locator("#messages .msg.customer").first).to_be_visible(timeout=TIMEOUT)
    await page.locator("#reply-text").fill(
        "您好，李雷先生，我是 Alice。这笔扣款会在 1–3 个工作日内自动退回，我会帮您跟进到账情况。"
    )
    await page.get_by_role("button", name="Send", exact=True).click()
    reply = pane.locator("#messages .msg.agent").last
    await expect(reply).to_contain_text("delivered", timeout=TIMEOUT)
    await page.evaluate(SCROLL_TO_END)
    await expect(reply).to_be_in_viewport(timeout=TIMEOUT)
    await page.screenshot(path=str(out / "console.png"))


async def take(url: str, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            console = await agent_signs_in(browser, url)
            chat = await chat_as_customer(browser, url)
            await answer_as_agent(console, out)
            await expect(chat.locator("li.agent .bubble").last).to_contain_text("我是 Alice", timeout=TIMEOUT)
            await chat.screenshot(path=str(out / "webchat.png"))
            await inbox_pictures(browser, url, out)
        finally:
            await browser.close()


def main(url: str, smtp_port: int, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    earlier_mail(smtp_port)
    asyncio.run(take(url, out))
    print(f"wrote {out / 'console.png'}, {out / 'webchat.png'}, {out / 'console-inbox-en.png'}, {out / 'console-inbox-zh.png'}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
