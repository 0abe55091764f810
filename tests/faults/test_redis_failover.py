"""A Redis primary killed (kill -9) under load from three gateway processes behind
Sentinel, with ``storage.min_replicas: 1``: the Sentinels promote a replica, the gateways
follow it without a restart, and nothing acknowledged is lost, no conversation is
duplicated, every conversation is offered under one message id, and the reply-tracking
timers armed before the failover fire once each after it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.storage import RedisStore
from tests.conftest import eventually
from tests.faults.reconcile import check_offered_once_each, check_stored_once
from tests.faults.test_faults import load
from tests.ha_servers import RedisSentinelGroup
from tests.multiprocess.conftest import EventTap
from tests.processes import GatewayProcess, process_config

pytestmark = [pytest.mark.fault, pytest.mark.rabbitmq]


@pytest.fixture
async def group() -> AsyncIterator[RedisSentinelGroup]:
    g = RedisSentinelGroup()
    await asyncio.to_thread(g.start)
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[EventTap]:
    t = EventTap(amqp_url)
    await t.start()
    yield t
    await t.close()


async def test_primary_killed_under_load_loses_nothing_acknowledged_and_timers_fire_once(
    tmp_path: Path, group: RedisSentinelGroup, amqp_url: str, work_queue: str, tap: EventTap
) -> None:
    prefix = f"ha-{uuid.uuid4().hex[:8]}"
    config = process_config(
        storage_url=group.url,
        prefix=prefix,
        broker_url=amqp_url,
        storage={"min_replicas": 1, "replica_timeout": "500ms"},
        routing={"rules": None, "default_queue": work_queue},
        broker={"reclaim_idle": "2s", "publish_timeout": "2s"},
        # Every conversation gets its reply-tracking warning 6 s after it came in: those
        # armed before the kill come due after the promotion. (The breach, at 60 s, would
        # offer the conversation again under a new routing version: not within this test.)
        reply_tracking={"default": "60s", "warn_at": 0.1, "scan_interval": "0.1s"},
    )
    gateways = [GatewayProcess(config, tmp_path, name) for name in ("a", "b", "c")]
    await asyncio.gather(*(asyncio.to_thread(gw.start) for gw in gateways))
    store = RedisStore(group.url, prefix=prefix)
    try:
        traffic = load([gw.url for gw in gateways], count=300, rate=60)
        run = asyncio.create_task(traffic.run())
        await eventually(lambda: len(traffic.result.acked) >= 60, timeout=60)
        old = group.primary()
        killed_at = time.monotonic()
        old.kill()
        await eventually(lambda: traffic.result.statuses.get(503, 0) > 0, timeout=30)  # the outage is seen
        await eventually(lambda: asyncio.to_thread(group.promoted_after, old), timeout=60)
        promoted = time.monotonic() - killed_at
        await eventually(lambda: all(gw.ready() for gw in gateways), timeout=60)  # no restart
        ready_again = time.monotonic() - killed_at
        result = await run
        print(
            f"\nfailover: promoted after {promoted:.1f}s, every gateway ready after {ready_again:.1f}s; {result.statuses}"
        )
        assert len(result.acked) == 300
        assert set(result.statuses) <= {200, 503}, result.statuses
        await check_stored_once(result, store)
        await check_offered_once_each(result, amqp_url, work_queue)

        # Timers: every conversation's warning, under one message id.
        ids = {o.conversation_id for o in result.acked.values()}
        await eventually(lambda: all(tap.of("sla.warning", cid) for cid in ids), timeout=90)

        async def published() -> bool:
            return (await store.outbox_stats()).depth == 0

        await eventually(published, timeout=60)
        await tap.flush()
        fired: dict[str, set[str | None]] = defaultdict(set)
        for kind, message_id, body in tap.events:
            if kind == "sla.warning" and body.get("conversation_id") in ids:
                fired[body["conversation_id"]].add(message_id)
        for cid in ids:
            assert len(fired[cid]) == 1, (cid, fired[cid])
    finally:
        for gw in gateways:
            gw.stop()
        await store.close()
