"""Shared fixtures: real Redis and RabbitMQ (never skipped), both stores side by side."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest
import redis.asyncio as aioredis

from gateway.storage import MemoryStore, RedisStore, Store
from tests.servers import PrivateRabbit

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_HOST = os.environ.get("GATEWAY_TEST_AMQP_HOST", "127.0.0.1:5672")


# Markers follow from the fixtures a test uses, so `-m "not redis and not rabbitmq"` leaves
# out exactly the tests that need those servers (see docs/development.md).
_SERVER_FIXTURES = {
    "redis": {"redis_store", "redis_prefix", "shared_prefix"},
    "rabbitmq": {"amqp_url", "amqp_vhost", "private_rabbit", "work_queue"},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in _SERVER_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)
        if xdist and ("private_rabbit" in used or item.get_closest_marker("fault")):
            # Under pytest-xdist (-n N --dist loadgroup): one worker runs the tests that start
            # a RabbitMQ node of their own or put load on the machine, one after the other.
            item.add_marker(pytest.mark.xdist_group("own-servers"))


def unique_prefix() -> str:
    return f"gwt-{uuid.uuid4().hex[:12]}"


async def drop_prefix(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    await drop_prefix(prefix)


@pytest.fixture
async def redis_store() -> AsyncIterator[RedisStore]:
    """The real store alone, for tests that run gateways against Redis and RabbitMQ."""
    prefix = unique_prefix()
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        yield store
    finally:
        await store.close()
        await drop_prefix(prefix)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The contract suite runs every test over both implementations."""
    if request.param == "memory":
        s: Store = MemoryStore()
        await s.start()
        yield s
        return
    prefix = unique_prefix()
    s = RedisStore(REDIS_URL, prefix=prefix)
    await s.start()  # fails loudly (no skip) when Redis is not there
    try:
        yield s
    finally:
        await s.close()
        await drop_prefix(prefix)


@pytest.fixture(params=["memory", "redis"])
async def unreachable_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A store whose storage is down, both ways: the in-memory engine switched off, and a
    RedisStore pointed at a port nothing listens on."""
    if request.param == "memory":
        memory = MemoryStore()
        memory.available = False
        s: Store = memory
    else:
        s = RedisStore("redis://127.0.0.1:1/0", socket_timeout=0.5)
    try:
        yield s
    finally:
        await s.close()


def _rabbitmqctl(*args: str) -> bool:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not os.path.exists(ctl):
        return False
    return subprocess.run([ctl, *args], capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="session")
def amqp_vhost() -> Iterator[str]:
    """A throwaway vhost per test run, so parallel runs and the shared '/' stay untouched."""
    name = f"gwtest-{uuid.uuid4().hex[:8]}"
    if not (_rabbitmqctl("add_vhost", name) and _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")):
        pytest.fail("cannot create a RabbitMQ vhost with rabbitmqctl; is RabbitMQ running? (scripts/test starts it)")
    yield name
    _rabbitmqctl("delete_vhost", name)


@pytest.fixture(scope="session")
def amqp_url(amqp_vhost: str) -> str:
    return f"amqp://guest:guest@{AMQP_HOST}/{amqp_vhost}"


async def delete_queues(amqp_url: str, *names: str) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
    finally:
        await connection.close()


async def take_all(amqp_url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message waiting in ``queue`` now, taken off it. Once a publisher's confirm has
    arrived its message is in the queue, so after the gateway's outbox is empty this is
    everything the gateway published there."""
    connection = await aio_pika.connect_robust(amqp_url)
    taken = []
    try:
        channel = await connection.channel()
        q = await channel.get_queue(queue)
        while (message := await q.get(no_ack=True, fail=False)) is not None:
            taken.append(message)
    finally:
        await connection.close()
    return taken


@pytest.fixture
async def work_queue(amqp_url: str) -> AsyncIterator[str]:
    """A work queue of the test's own (use it as ``routing.default_queue``), deleted after
    the test: the run's vhost is shared by every test, so a fixed name like ``general``
    would hand one test the offers another left behind."""
    name = f"work-{uuid.uuid4().hex[:10]}"
    yield name
    await delete_queues(amqp_url, name)


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A RabbitMQ node of our own (started once per run, on demand), so stopping it
    disturbs no other test run."""
    node = PrivateRabbit()
    node.start()
    try:
        yield node
    finally:
        node.stop()


async def eventually(check, *, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an (async or plain) check until it returns something truthy. The timeout is
    generous on purpose: a check that holds returns at once, and a loaded 2-core machine
    must not turn a slow pass into a failure."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
