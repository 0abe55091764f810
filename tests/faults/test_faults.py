"""The fault suite: broker and storage outages, crashes and redelivery storms under load.

Every test runs real servers on loopback; the ones it stops or kills are its own
(a private RabbitMQ node, a private Redis with AOF), so shared servers are untouched.
Reconciliation is by provider id: every acknowledged webhook must be stored exactly once
and offered under exactly one message id per conversation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bench.loadgen import WebhookLoad, api_request
from gateway.storage import RedisStore
from tests.conftest import REDIS_URL, drop_prefix, unique_prefix
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
    )


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = unique_prefix()
    yield p
    await drop_prefix(p)


@pytest.fixture
def clean_general(amqp_vhost: str) -> None:
    """Offers of earlier tests in the shared test vhost must not count for this one."""
    import subprocess

    subprocess.run(["rabbitmqctl", "-q", "purge_queue", "-p", amqp_vhost, "general"], capture_output=True, timeout=60)


@pytest.fixture
def fresh_vhost_url(private_rabbit: PrivateRabbit) -> Iterator[str]:
    """A vhost of its own on the private node, so each test counts only its own offers."""
    import subprocess

    name = f"f{uuid.uuid4().hex[:6]}"
    ctl = ["rabbitmqctl", "-n", private_rabbit.node]
    subprocess.run([*ctl, "add_vhost", name], capture_output=True, timeout=60, check=True)
    subprocess.run(
        [*ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], capture_output=True, timeout=60, check=True
    )
    yield f"amqp://guest:guest@127.0.0.1:{private_rabbit.port}/{name}"
    subprocess.run([*ctl, "delete_vhost", name], capture_output=True, timeout=60)


def gateway(
    tmp_path: Path, prefix: str, broker_url: str, name: str = "gw", storage_url: str = REDIS_URL
) -> GatewayProcess:
    return GatewayProcess(
        process_config(storage_url=storage_url, prefix=prefix, broker_url=broker_url, **FAULT_CONFIG), tmp_path, name
    )


async def test_broker_down_at_start_intake_continues_and_everything_is_offered_later(
    tmp_path: Path, prefix: str, private_rabbit: PrivateRabbit, fresh_vhost_url: str
) -> None:
    await asyncio.to_thread(private_rabbit.stop_app)
    gw = gateway(tmp_path, prefix, fresh_vhost_url)
    try:
        gw.start(wait_ready=False)
        assert gw.healthy() and gw.readiness_status() == 503  # not ready while the broker is away
        result = await load([gw.url], count=150).run()
        assert len(result.acked) == 150
    finally:
        await asyncio.to_thread(private_rabbit.start_app)
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        await check_stored_once(result, store)
        await check_offered_once_each(result, fresh_vhost_url)
        await asyncio.to_thread(wait_for, gw.ready, 30, "not ready after the broker came back")
    finally:
        await store.close()
        gw.stop()


async def test_broker_restart_during_load_loses_and_duplicates_nothing(
    tmp_path: Path, prefix: str, private_rabbit: PrivateRabbit, fresh_vhost_url: str
) -> None:
    gw = gateway(tmp_path, prefix, fresh_vhost_url).start()
    run = asyncio.create_task(load([gw.url], count=400, rate=80).run())
    try:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(private_rabbit.stop_app)
        await asyncio.sleep(1.0)
        assert not gw.ready(), "the gateway did not notice the broker going away"
        assert gw.healthy()
    finally:
        await asyncio.to_thread(private_rabbit.start_app)
    result = await run
    assert len(result.acked) == 400
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        await check_stored_once(result, store)
        report = await check_offered_once_each(result, fresh_vhost_url)
        assert report["conversations"] == 400
    finally:
        await store.close()
        gw.stop()


async def test_kill_9_of_the_gateway_during_load_then_restart(
    tmp_path: Path, prefix: str, amqp_url: str, clean_general: None
) -> None:
    a = gateway(tmp_path, prefix, amqp_url, "a").start()
    b = gateway(tmp_path, prefix, amqp_url, "b").start()
    run = asyncio.create_task(load([a.url, b.url], count=400, rate=100).run())
    await asyncio.sleep(1.5)
    a.kill()  # mid-request, mid-outbox
    await asyncio.sleep(1.0)
    a.start()
    result = await run
    assert len(result.acked) == 400
    assert any(o.attempts > 1 for o in result.outcomes.values()), "no request saw the crash"
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        await check_stored_once(result, store)
        await check_offered_once_each(result, amqp_url)
    finally:
        await store.close()
        a.stop()
        b.stop()


async def test_redis_killed_and_restarted_during_load_loses_nothing_acknowledged(
    tmp_path: Path, prefix: str, amqp_url: str, clean_general: None
) -> None:
    redis = PrivateRedis(appendfsync="always")
    redis.start()
    gw = gateway(tmp_path, prefix, amqp_url, storage_url=redis.url).start()
    try:
        run = asyncio.create_task(load([gw.url], count=300, rate=80).run())
        await asyncio.sleep(1.5)
        redis.kill()  # kill -9: only what was fsynced survives
        await asyncio.sleep(1.5)
        redis.start()  # same directory: the AOF is replayed
        result = await run
        assert len(result.acked) == 300
        assert result.statuses.get(503, 0) > 0, "the outage was not seen as 503"
        assert set(result.statuses) <= {200, 503}, result.statuses
        store = RedisStore(redis.url, prefix=prefix)
        try:
            await check_stored_once(result, store)
            await check_offered_once_each(result, amqp_url)
        finally:
            await store.close()
    finally:
        gw.stop()
        redis.stop()


async def test_redelivery_storm_three_copies_at_once_creates_no_duplicates(
    tmp_path: Path, prefix: str, amqp_url: str, clean_general: None
) -> None:
    a = gateway(tmp_path, prefix, amqp_url, "a").start()
    b = gateway(tmp_path, prefix, amqp_url, "b").start()
    try:
        result = await load([a.url, b.url], count=300, rate=150, copies=3).run()
        assert len(result.acked) == 300
        assert result.statuses == {200: 900}
        store = RedisStore(REDIS_URL, prefix=prefix)
        try:
            await check_stored_once(result, store)
            await check_offered_once_each(result, amqp_url)
        finally:
            await store.close()
    finally:
        a.stop()
        b.stop()
