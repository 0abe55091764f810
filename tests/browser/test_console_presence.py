"""Presence, unread counts and alerts in the console — headless Chromium: an agent sets
themselves away (ops see it, Take next refuses), and a customer message while they look
elsewhere shows in the tab's title, with a sound and a browser notification when on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT,
    browser,
    make_gateway,
    no_errors,
    open_console,
    sign_in,
)
from tests.helpers import ALICE_TOKEN, OPS_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

# The page's sound and notifications, observed: a fake AudioContext counts beeps, a fake
# Notification (permission granted) keeps what it was asked to show.
STUBS = """
window.__beeps = 0; window.__notes = [];
class FakeAudio { constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() { return { frequency: {}, connect: (g) => g, start: () => { window.__beeps += 1; }, stop() {}, set onended(f) {} }; }
  createGain() { return { gain: {}, connect: (d) => d }; }
  close() {} }
window.AudioContext = FakeAudio;
class FakeNotification { constructor(title, options) { window.__notes.push({ title, body: options.body }); } }
FakeNotification.permission = "granted";
FakeNotification.requestPermission = async () => "granted";
window.Notification = FakeNotification;
"""


async def test_presence_unread_title_sound_and_notification(
    browser: Browser,  # noqa: F811
    make_gateway: Callable[..., Any],  # noqa: F811
) -> None:
    gateway = await make_gateway()
    await gateway.api_message("p-1", "first question", id="u-first", name="Fay")
    alice = await open_console(browser, gateway)
    await alice.add_init_script(STUBS)
    await alice.reload()
    await sign_in(alice, ALICE_TOKEN)
    await expect(alice.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=TIMEOUT)
    status = alice.get_by_label("My status")
    await expect(status).to_have_value("online")

    ops = await open_console(browser, gateway)
    await sign_in(ops, OPS_TOKEN)
    alice_in_general = ops.locator("#queue-table tbody tr", has_text="general").locator(".agent-status[data-agent=alice]")
    await expect(alice_in_general).to_have_attribute("data-status", "online", timeout=TIMEOUT)

    await status.select_option("away")
    await alice.get_by_role("button", name="Take next").click()
    await expect(alice.locator("#next-message")).to_have_text(
        "You are away: set yourself online to take the next one.", timeout=TIMEOUT
    )
    await gateway.api_message("p-2", "anyone?", id="u-second", name="Gus")  # an event: ops' page reloads
    await expect(alice_in_general).to_have_attribute("data-status", "away", timeout=TIMEOUT)

    await status.select_option("online")
    await alice.get_by_text("Alerts").click()
    await alice.get_by_label("Sound").check()
    await alice.get_by_label("Browser notifications").check()
    await alice.get_by_text("Alerts").click()
    await alice.get_by_role("button", name="Take next").click()  # Fay's: on screen now
    await expect(alice.locator("#pane").get_by_role("heading", name="Fay")).to_be_visible(timeout=TIMEOUT)
    await expect(alice).to_have_title("(1) Support console", timeout=TIMEOUT)  # Gus waits unread

    await gateway.api_message("p-3", "my card was charged twice", id="u-third", name="Hana")
    await expect(alice).to_have_title("(2) Support console", timeout=TIMEOUT)
    notes = await alice.evaluate("window.__notes")
    assert {"title": "New customer message", "body": "my card was charged twice"} in notes
    assert await alice.evaluate("window.__beeps") >= 1

    await gateway.api_message("p-4", "thanks, that helps", id="u-first", name="Fay")  # on screen: no alert
    await expect(alice.locator("#messages .msg.customer")).to_have_count(2, timeout=TIMEOUT)
    assert "thanks, that helps" not in [n["body"] for n in await alice.evaluate("window.__notes")]
    await alice.get_by_role("button", name="中文").click()
    await expect(alice).to_have_title("(2) 客服工作台")
    await expect(alice.get_by_label("我的状态")).to_have_value("online")
    no_errors(alice, 409)
    no_errors(ops)
