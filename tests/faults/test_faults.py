"""The fault suite: broker and storage outages, crashes and redelivery storms under load.

Every test runs real servers on loopback; the ones it stops or kills are its own
(a private RabbitMQ node, a private Redis with AOF), so shared servers are untouched.
Reconciliation is by provider id: every acknowledged webhook must be stored exactly once
and offered under exactly one message id per conversation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.loadgen import WebhookLoad, api_request
from gateway.storage import RedisStore
from tests.conftest import REDIS_URL, delete_queues, drop_prefix, eventually, unique_prefix
from tests.faults.reconcile import check_offered_once_each, check_stored_once
from tests.helpers import API_SECRET
from tests.processes import GatewayProcess, process_config
from tests.servers import PrivateRabbit, PrivateRedis, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.redis, pytest.mark.rabbitmq]

FAULT_CONFIG = {"broker": {"reclaim_idle": "2s", "publish_timeout": "2s"}}


def load(targets: list[str], *, count: int, rate: float | None = None, copies: int = 1) -> WebhookLoad:
    prefix = f"f{uuid.uuid4().hex[:6]}"
    return WebhookLoad(
        targets,
        lambda ext, i: api_request(API_SECRET, ext, f"{prefix}-user-{i}", f"付款失败 #{i}"),
        count=count,
        prefix=prefix,
        rate=rate,
        concurrency=32,
        copies=copies,
        retry_every=0.3,
        give_up_after=90,
        timeout=30,  # per request: generous, a loaded machine answers late rather than not at all
    )


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = unique_prefix()
    yield p
    await drop_prefix(p)


@pytest.fixture
async def private_queue(private_rabbit: PrivateRabbit) -> AsyncIterator[str]:
    """A work queue of the test's own on the private node, so it counts only its own offers."""
    name = f"work-{uuid.uuid4().hex[:10]}"
    yield name
    await delete_queues(private_rabbit.url, name)


def gateway(
    tmp_path: Path, prefix: str, broker_url: str, queue: str, name: str = "gw", storage_url: str = REDIS_URL
) -> GatewayProcess:
    config = process_config(
        storage_url=storage_url,
        prefix=prefix,
        broker_url=broker_url,
        routing={"rules": None, "default_queue": queue},
        **FAULT_CONFIG,
    )
    return GatewayProcess(config, tmp_path, name)


async def not_ready(gw: GatewayProcess) -> bool:
    """The gateway answers /readyz with 503 (not merely: no answer in time)."""
    return await asyncio.to_thread(gw.readiness_status) == 503


async def test_broker_down_at_start_intake_continues_and_everything_is_offered_later(
    tmp_path: Path, prefix: str, private_rabbit: PrivateRabbit, private_queue: str
) -> None:
    await asyncio.to_thread(private_rabbit.stop_app)
    gw = gateway(tmp_path, prefix, private_rabbit.url, private_queue)
    try:
        await asyncio.to_thread(gw.start, wait_ready=False)
        assert gw.healthy() and gw.readiness_status() == 503  # not ready while the broker is away
        result = await load([gw.url], count=150).run()
        assert len(result.acked) == 150
    finally:
        await asyncio.to_thread(private_rabbit.start_app)
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        await check_stored_once(result, store)
        await check_offered_once_each(result, private_rabbit.url, private_queue)
        await asyncio.to_thread(wait_for, gw.ready, 30, "not ready after the broker came back")
    finally:
        await store.close()
        gw.stop()


async def test_broker_restart_during_load_loses_and_duplicates_nothing(
    tmp_path: Path, prefix: str, private_rabbit: PrivateRabbit, private_queue: str
) -> None:
    gw = await asyncio.to_thread(gateway(tmp_path, prefix, private_rabbit.url, private_queue).start)
    traffic = load([gw.url], count=400, rate=80)
    run = asyncio.create_task(traffic.run())
    try:
        await eventually(lambda: len(traffic.result.acked) >= 40, timeout=60)  # the load is flowing
        await asyncio.to_thread(private_rabbit.stop_app)
        await eventually(lambda: not_ready(gw), timeout=30)  # the gateway notices the broker going away
        assert gw.healthy()
    finally:
        await asyncio.to_thread(private_rabbit.start_app)
    result = await run
    assert len(result.acked) == 400
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        await check_stored_once(result, store)
        report = await check_offered_once_each(result, private_rabbit.url, private_queue)
        assert report["conversations"] == 400
    finally:
        await store.close()
        gw.stop()


async def test_kill_9_of_the_gateway_during_load_then_restart(
    tmp_path: Path, prefix: str, amqp_url: str, work_queue: str
) -> None:
    a = gateway(tmp_path, prefix, amqp_url, work_queue, "a")
    b = gateway(tmp_path, prefix, amqp_url, work_queue, "b")
    await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
    traffic = load([a.url, b.url], count=400, rate=100)
    run = asyncio.create_task(traffic.run())
    await eventually(lambda: len(traffic.result.acked) >= 50, timeout=60)
    a.kill()  # mid-request, mid-outbox
    await eventually(lambda: any(o.attempts > 1 for o in traffic.result.outcomes.values()), timeout=30)
    await asyncio.to_thread(a.start)  # the load goes on meanwhile (retries land on b)
    result = await run
    assert len(result.acked) == 400
    assert any(o.attempts > 1 for o in result.outcomes.values()), "no request saw the crash"
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        await check_stored_once(result, store)
        await check_offered_once_each(result, amqp_url, work_queue)
    finally:
        await store.close()
        a.stop()
        b.stop()


async def test_redis_killed_and_restarted_during_load_loses_nothing_acknowledged(
    tmp_path: Path, prefix: str, amqp_url: str, work_queue: str
) -> None:
    redis = PrivateRedis(appendfsync="always")
    await asyncio.to_thread(redis.start)
    gw = await asyncio.to_thread(gateway(tmp_path, prefix, amqp_url, work_queue, storage_url=redis.url).start)
    try:
        traffic = load([gw.url], count=300, rate=80)
        run = asyncio.create_task(traffic.run())
        await eventually(lambda: len(traffic.result.acked) >= 40, timeout=60)
        redis.kill()  # kill -9: only what was fsynced survives
        await eventually(lambda: traffic.result.statuses.get(503, 0) > 0, timeout=30)  # the outage is seen
        await asyncio.to_thread(redis.start)  # same directory: the AOF is replayed
        result = await run
        assert len(result.acked) == 300
        assert set(result.statuses) <= {200, 503}, result.statuses
        store = RedisStore(redis.url, prefix=prefix)
        try:
            await check_stored_once(result, store)
            await check_offered_once_each(result, amqp_url, work_queue)
        finally:
            await store.close()
    finally:
        gw.stop()
        redis.stop()


async def test_redelivery_storm_three_copies_at_once_creates_no_duplicates(
    tmp_path: Path, prefix: str, amqp_url: str, work_queue: str
) -> None:
    a = gateway(tmp_path, prefix, amqp_url, work_queue, "a")
    b = gateway(tmp_path, prefix, amqp_url, work_queue, "b")
    await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
    try:
        result = await load([a.url, b.url], count=300, rate=150, copies=3).run()
        assert len(result.acked) == 300
        # Copies racing each other are all answered 200. On a machine loaded enough that a
        # storage call outlasts its timeout, a copy may get the retryable 503 instead (or no
        # answer in time) and is sent again, as a provider would: never any other status.
        assert set(result.statuses) <= {200, 503} and result.statuses[200] >= 300, result.statuses
        store = RedisStore(REDIS_URL, prefix=prefix)
        try:
            await check_stored_once(result, store)
            await check_offered_once_each(result, amqp_url, work_queue)
        finally:
            await store.close()
    finally:
        a.stop()
        b.stop()
