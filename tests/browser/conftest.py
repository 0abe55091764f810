"""A real headless Chromium (Debian's, never a downloaded one) against a real gateway server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright, expect

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.selfservice.waiting import mark_seen
from gateway.storage import MemoryStore
from tests.helpers import ALICE_TOKEN, auth, gateway_config
from tests.servers import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Playwright's assertions give up after 5 s by default: too tight for Chromium next to the
# rest of the suite on two busy cores. A passing assertion returns as soon as it holds.
expect.set_options(timeout=30_000)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Gateway:
    """The gateway under test, reached over real HTTP, with an agent's view of it."""

    url: str
    http: aiohttp.ClientSession
    store: MemoryStore

    async def agent_online(self, agent: str = "alice") -> None:
        """As when the agent's console is open (gateway.selfservice.waiting)."""
        await mark_seen(self.store, agent)

    async def webchat_conversations(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.url}/api/v1/conversations", headers=auth()) as resp:
            return [c for c in (await resp.json())["conversations"] if c["channel"] == "webchat"]

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.url}/api/v1/conversations/{conversation_id}", headers=auth()) as resp:
            return list((await resp.json())["messages"])

    async def reply(self, conversation_id: str, text: str) -> dict[str, Any]:
        async with self.http.post(
            f"{self.url}/api/v1/conversations/{conversation_id}/messages",
            json={"text": text},
            headers=auth(ALICE_TOKEN),
        ) as resp:
            assert resp.status == 202, await resp.text()
            return dict(await resp.json())


@pytest.fixture
async def gateway(aiohttp_server: Any) -> AsyncIterator[Gateway]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = gateway_config(http={"public_url": url}, channels={"webchat": {"allowed_origins": [url]}})
    store = MemoryStore()
    await aiohttp_server(build_app(config, store=store, publisher=MemoryPublisher()), port=port)
    async with aiohttp.ClientSession() as http:
        yield Gateway(url=url, http=http, store=store)


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
