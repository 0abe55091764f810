"""The console's live badge against a real RabbitMQ: the feed subscribes when the first
console connects (after its "ready"), and the badge must then say Live — not "Connected,
no live feed" while updates arrive — and say when the feed is lost."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from gateway.app import build_app
from gateway.storage import MemoryStore
from gateway.web.console_feed import FEED
from tests.browser.test_console import TIMEOUT, browser, serve, sign_in  # noqa: F401  (fixtures)
from tests.helpers import API_SECRET, OPS_TOKEN, gateway_config, signed_api_body
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.rabbitmq, pytest.mark.asyncio(loop_scope="module")]


async def test_the_badge_says_live_once_the_feed_subscribed_and_updates_arrive(
    browser: Browser,  # noqa: F811
    amqp_url: str,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = gateway_config(http={"public_url": url}, broker={"url": amqp_url}, channels={"api": {"secret": API_SECRET}})
    app = build_app(config, store=MemoryStore())
    runner, _ = await serve(app, port)
    try:
        assert not app[FEED].ready()  # nobody watches yet: nothing subscribed
        page = await (await browser.new_context(locale="en-GB")).new_page()
        await page.goto(f"{url}/console")
        await sign_in(page, OPS_TOKEN)
        badge = page.locator("#live")
        await expect(badge).to_have_text("Live", timeout=TIMEOUT)
        await expect(badge).to_have_class("live live")

        # An update arrives through RabbitMQ while the badge says so.
        general = page.locator("#queue-table tbody tr", has_text="general").locator("td.num").first
        await expect(general).to_have_text("0", timeout=TIMEOUT)
        body, headers = signed_api_body({"id": "badge-1", "from": {"id": "u-badge"}, "text": "hello"})
        async with aiohttp.ClientSession() as http, http.post(f"{url}/webhooks/api", data=body, headers=headers) as resp:
            assert resp.status == 200
        await expect(general).to_have_text("1", timeout=TIMEOUT)  # live, not the 30 s refresh
        await expect(badge).to_have_text("Live")

        # The feed's connection is gone: the badge says so instead of claiming Live.
        source: Any = app[FEED].source
        await source._connection.close()
        await expect(badge).to_have_text("Connected, no live feed", timeout=TIMEOUT)
    finally:
        await runner.cleanup()
