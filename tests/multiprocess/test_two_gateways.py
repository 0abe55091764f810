"""Two gateway processes on one Redis and one RabbitMQ: timers fire once, crashes lose nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.helpers import ALICE_TOKEN, BOB_TOKEN, auth, signed_api_body
from tests.multiprocess.conftest import EventTap, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]

FAST = {"reply_tracking": {"default": "3s", "warn_at": 0.5, "scan_interval": "0.05s"}}


async def post(base: str, user: str, text: str = "付款失败") -> dict[str, Any]:
    body, headers = signed_api_body({"id": f"{user}-{text}", "from": {"id": user}, "text": text})
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/webhooks/api", data=body, headers=headers) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_warning_and_breach_fire_once_across_two_processes(gateways: Any, tap: EventTap) -> None:
    a = gateways("a", **FAST).start()
    b = gateways("b", **FAST).start()
    ids = [(await post(a.url if i % 2 else b.url, f"cust-{i}"))["conversation_id"] for i in range(6)]
    await wait_until(lambda: all(tap.of("sla.breached", cid) for cid in ids), timeout=15)
    await asyncio.sleep(1.0)  # give a second firing every chance to show up
    for cid in ids:
        assert len(tap.of("sla.warning", cid)) == 1, cid
        assert len(tap.of("sla.breached", cid)) == 1, cid


async def test_a_claim_through_one_process_is_seen_by_the_other(gateways: Any) -> None:
    a = gateways("a").start()
    b = gateways("b").start()
    cid = (await post(a.url, "shared"))["conversation_id"]
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{b.url}/api/v1/conversations/{cid}/claim", json={"routing_version": 1}, headers=auth(ALICE_TOKEN)
        ) as r:
            assert r.status == 200
        async with session.post(
            f"{a.url}/api/v1/conversations/{cid}/claim", json={"routing_version": 1}, headers=auth(BOB_TOKEN)
        ) as r:
            assert r.status == 409
        async with session.post(f"{a.url}/api/v1/agents/me/next", headers=auth(BOB_TOKEN)) as r:
            assert r.status == 204


async def test_a_deadline_missed_while_every_process_was_down_fires_once_on_start(gateways: Any, tap: EventTap) -> None:
    a = gateways("a", **FAST).start()
    b = gateways("b", **FAST).start()
    cid = (await post(a.url, "crash"))["conversation_id"]
    a.kill()
    b.kill()
    await asyncio.sleep(3.5)  # the deadline passes while nothing runs
    assert tap.of("sla.breached", cid) == []
    a.start()
    b.start()
    await wait_until(lambda: tap.of("sla.breached", cid), timeout=15)
    await asyncio.sleep(1.0)
    assert len(tap.of("sla.breached", cid)) == 1
    assert len(tap.of("sla.warning", cid)) == 1
    a.stop()
    b.stop()
