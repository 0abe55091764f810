"""Two gateway processes on one Redis and one RabbitMQ: timers fire once, crashes lose nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from gateway.storage import RedisStore
from tests.conftest import REDIS_URL, eventually
from tests.helpers import ALICE_TOKEN, BOB_TOKEN, auth, signed_api_body
from tests.multiprocess.conftest import EventTap, settled
from tests.processes import GatewayProcess

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


async def test_warning_and_breach_fire_once_across_two_processes(
    gateways: Any, tap: EventTap, shared_prefix: str
) -> None:
    a, b = await start(gateways("a", **FAST), gateways("b", **FAST))
    ids = [(await post(a.url if i % 2 else b.url, f"cust-{i}"))["conversation_id"] for i in range(6)]
    await eventually(lambda: all(tap.of("sla.breached", cid) for cid in ids), timeout=30)
    await settled(shared_prefix)  # no timer left to fire again, every event published
    await tap.flush()  # and delivered
    for cid in ids:
        assert len(tap.of("sla.warning", cid)) == 1, cid
        assert len(tap.of("sla.breached", cid)) == 1, cid


async def test_a_claim_through_one_process_is_seen_by_the_other(gateways: Any) -> None:
    a, b = await start(gateways("a"), gateways("b"))
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


async def test_a_deadline_missed_while_every_process_was_down_fires_once_on_start(
    gateways: Any, tap: EventTap, shared_prefix: str
) -> None:
    # The warning is due 4 s after the message, long after both processes are gone (were
    # one to lease it and then die, it would wait out the 30 s lease: slow, not wrong). What
    # a killed relay had read but not confirmed is reclaimed after 2 s instead of 30.
    late = {
        "reply_tracking": {**FAST["reply_tracking"], "default": "5s", "warn_at": 0.8},
        "broker": {"reclaim_idle": "2s"},
    }
    a, b = await start(gateways("a", **late), gateways("b", **late))
    cid = (await post(a.url, "crash"))["conversation_id"]
    a.kill()
    b.kill()
    store = RedisStore(REDIS_URL, prefix=shared_prefix)
    try:
        conv = await store.get_conversation(cid)
    finally:
        await store.close()
    assert conv is not None and conv.reply_by is not None
    # The deadline passes while nothing runs (by the wall clock the processes read).
    await eventually(lambda: time.time() > conv.reply_by.timestamp() + 0.1, timeout=30)
    assert tap.of("sla.breached", cid) == []
    await start(a, b)
    await eventually(lambda: tap.of("sla.breached", cid), timeout=30)
    await settled(shared_prefix)
    await tap.flush()
    assert len(tap.of("sla.breached", cid)) == 1
    assert len(tap.of("sla.warning", cid)) == 1


async def start(*processes: GatewayProcess) -> tuple[GatewayProcess, ...]:
    """Start gateway processes side by side (each waits for its own readiness)."""
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in processes))
    return processes
