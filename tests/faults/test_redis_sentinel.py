"""Redis behind Sentinel (DESIGN §7.4): the store follows a failover without a restart,
``storage.min_replicas`` holds the acknowledgement until WAIT confirms the write, and
what ``min_replicas: 0`` can lose, shown step by step.

Each test starts its own primary, two replicas and three Sentinels (tests/ha_servers.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bench.loadgen import api_request
from gateway.app import build_app
from gateway.channels.email import EmailChannel
from gateway.config import ConfigError
from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import RedisStore, StorageUnavailable
from gateway.storage.base import ReplicationUnconfirmed
from gateway.storage.sentinel import parse_sentinel_url
from gateway.wiring.services import SERVICES
from tests.channels.test_email_gateway import email_sections
from tests.channels.test_email_support import fixture, smtp_send
from tests.conftest import eventually
from tests.ha_servers import RedisSentinelGroup
from tests.helpers import API_SECRET, gateway_config

pytestmark = [pytest.mark.fault]


@pytest.fixture
async def group() -> AsyncIterator[RedisSentinelGroup]:
    g = RedisSentinelGroup()
    await asyncio.to_thread(g.start)
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture
async def open_store(group: RedisSentinelGroup) -> AsyncIterator[Callable[..., RedisStore]]:
    stores: list[RedisStore] = []

    def make(**kwargs: Any) -> RedisStore:
        store = RedisStore(group.url, prefix=f"ha-{uuid.uuid4().hex[:8]}", socket_timeout=2.0, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


def test_the_sentinel_url_names_sentinels_service_and_database() -> None:
    parsed = parse_sentinel_url("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380/gateway/3")
    assert parsed.sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26380)]
    assert (parsed.service, parsed.db, parsed.password) == ("gateway", 3, "pw")
    assert parse_sentinel_url("redis+sentinel://h:1/gateway").db == 0
    for bad in ("redis+sentinel://h/gateway/0", "redis+sentinel://h:1", "redis+sentinel://h:1/a/b"):
        with pytest.raises(ValueError):
            parse_sentinel_url(bad)
    with pytest.raises(ConfigError, match=r"storage\.url"):
        gateway_config(storage={"url": "redis+sentinel://h:1"})
    with pytest.raises(ConfigError, match=r"storage\.replica_timeout"):
        gateway_config(storage={"replica_timeout": "0s"})
    with pytest.raises(ConfigError, match=r"storage\.min_replicas"):
        gateway_config(storage={"min_replicas": 1})  # memory:// has no replicas
    config = gateway_config(storage={"url": "redis+sentinel://h:1/gw/0", "min_replicas": 1, "replica_timeout": "300ms"})
    assert (config.storage.min_replicas, config.storage.replica_timeout) == (1, 0.3)
    assert gateway_config().storage.min_replicas == 0


async def test_the_store_follows_a_failover_without_a_restart_and_reloads_its_scripts(
    group: RedisSentinelGroup, open_store: Callable[..., RedisStore]
) -> None:
    store = open_store(min_replicas=1)
    await store.start()
    assert await store.add_counts({"before": 1})
    with group.primary().client() as c:
        c.script_flush()  # as on a promoted replica: no script loaded there
    assert await store.add_counts({"before": 1})  # NOSCRIPT → loaded again, run again
    plain = open_store()  # without WAIT: the plain EVALSHA path reloads too
    with group.primary().client() as c:
        c.script_flush()
    assert await plain.add_counts({"plain": 1})

    old = group.primary()
    old.kill()
    assert not await store.ping()  # readiness: the primary is unreachable
    with pytest.raises(StorageUnavailable):
        await store.add_counts({"during": 1})
    await eventually(lambda: asyncio.to_thread(group.promoted_after, old), timeout=60)
    await eventually(store.ping, timeout=30)  # the same store object, no restart
    assert await store.add_counts({"after": 1})
    stats = await store.stats()
    # Confirmed writes survived the failover; the one refused during it was never acknowledged.
    assert stats.get("before") == 2 and stats.get("after") == 1, stats


async def test_a_write_no_replica_confirms_is_not_acknowledged(
    group: RedisSentinelGroup, open_store: Callable[..., RedisStore]
) -> None:
    store = open_store(min_replicas=1, replica_timeout=0.2)
    await store.start()
    replicas = group.cut_off_replicas()
    try:
        with pytest.raises(ReplicationUnconfirmed):
            await store.add_counts({"x": 1})
        assert await store.ping()  # the primary answers: only acknowledgements wait
    finally:
        group.resume(replicas)
    await eventually(lambda: asyncio.to_thread(group.settled), timeout=60)
    assert await store.add_counts({"x": 1})
    too_many = open_store(min_replicas=3, replica_timeout=0.1)  # only two replicas exist
    with pytest.raises(ReplicationUnconfirmed):
        await too_many.add_counts({"x": 1})


async def post(client: TestClient, external_id: str) -> tuple[int, dict[str, Any]]:
    path, body, headers = api_request(API_SECRET, external_id, f"user-{external_id}", "付款失败")
    resp = await client.post(path, data=body, headers=headers)
    return resp.status, await resp.json()


async def ready_status(client: TestClient, status: int) -> bool:
    return (await client.get("/readyz")).status == status


@pytest.fixture
def make_client(aiohttp_client: Any) -> Callable[[RedisStore], Awaitable[TestClient]]:
    async def make(store: RedisStore) -> TestClient:
        app = build_app(gateway_config(), store=store, publisher=MemoryPublisher())
        return await aiohttp_client(app)

    return make


async def intake_while_replicas_are_cut_off(
    group: RedisSentinelGroup, client: TestClient, store: RedisStore, count: int
) -> tuple[dict[str, int], list[str]]:
    """Send ``count`` webhooks while the replicas get nothing, then kill -9 the primary
    and let the Sentinels promote a replica. Returns the statuses per external id and the
    ids a webhook answered 200 for (acknowledged)."""
    assert (await post(client, "warm-up"))[0] == 200
    replicas = group.cut_off_replicas()
    statuses: dict[str, int] = {}
    acknowledged: list[str] = []
    try:
        for i in range(count):
            external_id = f"cut-{i}"
            statuses[external_id], _ = await post(client, external_id)
            if statuses[external_id] == 200:
                acknowledged.append(external_id)
        old = group.primary()
        old.kill()
    finally:
        group.resume(replicas)
    # Readiness says so at once (the Sentinels take a second before they even suspect it).
    ready = await client.get("/readyz")
    assert ready.status == 503 and (await ready.json())["storage"] == "unavailable"
    await eventually(lambda: asyncio.to_thread(group.promoted_after, old), timeout=60)
    await eventually(lambda: ready_status(client, 200), timeout=30)
    await eventually(store.ping, timeout=30)
    return statuses, acknowledged


async def test_min_replicas_0_acknowledges_writes_a_failover_then_loses(
    group: RedisSentinelGroup, open_store: Callable[..., RedisStore], make_client: Any
) -> None:
    """Why ``min_replicas: 1``: Redis replicates asynchronously. With 0 the gateway answers
    200 once the primary has the write; if the primary dies before a replica got it, the
    promoted replica never had it — an acknowledged message is gone, and the provider,
    having had its 200, never sends it again. Shown here deterministically: the replicas
    are cut off while the webhooks are acknowledged."""
    store = open_store(min_replicas=0)
    client = await make_client(store)
    statuses, acknowledged = await intake_while_replicas_are_cut_off(group, client, store, 5)
    assert set(statuses.values()) == {200} and len(acknowledged) == 5
    for external_id in acknowledged:
        assert await store.peek_duplicate("api", external_id) is None  # acknowledged, then lost
    assert await store.peek_duplicate("api", "warm-up") is not None  # replicated before: kept


async def test_min_replicas_1_answers_503_instead_and_the_retry_lands_after_the_failover(
    group: RedisSentinelGroup, open_store: Callable[..., RedisStore], make_client: Any
) -> None:
    store = open_store(min_replicas=1, replica_timeout=0.2)
    client = await make_client(store)
    statuses, acknowledged = await intake_while_replicas_are_cut_off(group, client, store, 5)
    assert set(statuses.values()) == {503} and acknowledged == []  # nothing acknowledged, nothing to lose
    for external_id in statuses:  # the provider retries: now on the promoted replica
        status, answer = await post(client, external_id)
        assert status == 200, answer
        assert await store.get_messages(answer["conversation_id"])
    assert await store.peek_duplicate("api", "warm-up") is not None


async def test_a_switchover_is_followed_without_a_failed_webhook(
    group: RedisSentinelGroup, open_store: Callable[..., RedisStore], make_client: Any
) -> None:
    """A planned switchover (SENTINEL FAILOVER): the old primary keeps running, as a replica;
    Sentinel closes its clients' connections, and the store's pool reconnects to the new
    primary — no webhook after it fails, none is lost before it."""
    store = open_store(min_replicas=1, replica_timeout=1.0)
    client = await make_client(store)
    assert (await post(client, "before"))[0] == 200
    old = group.primary()
    with group.sentinels[0].client() as c:
        c.execute_command("SENTINEL", "FAILOVER", "gwha")
    await eventually(lambda: asyncio.to_thread(group.promoted_after, old), timeout=60)
    with old.client() as c:
        await eventually(lambda: c.info("replication")["role"] == "slave", timeout=60)
    for i in range(3):
        status, answer = await post(client, f"after-{i}")
        assert status == 200, answer  # on the first attempt
    assert await store.peek_duplicate("api", "before") is not None


async def test_an_intake_step_whose_connection_is_lost_midway_is_run_again_once(
    group: RedisSentinelGroup, open_store: Callable[..., RedisStore], caplog: pytest.LogCaptureFixture
) -> None:
    """The step in progress when its connection goes (here: the server closes it while the
    script waits behind CLIENT PAUSE) is run again on a new connection, once — the intake's
    steps are idempotent (a read; the write deduplicated by provider id) — so the webhook
    is answered, not refused. A store of its own: no background task runs a script."""
    caplog.set_level(logging.INFO, logger="gateway.storage.connection")
    store = open_store()
    await store.start()
    primary = group.primary().client()
    try:
        primary.client_pause(30000, all=False)  # writes and scripts wait
        step = asyncio.create_task(
            store.prepare("api", "in-flight", ["api:u1"], endpoint="", by_contact=True, thread_refs=[])
        )

        def waiting_script(other_than: str = "") -> str | None:
            waiting = (str(c["id"]) for c in primary.client_list() if c["cmd"] == "evalsha" and "b" in c["flags"])
            return next((i for i in waiting if i != other_than), None)

        victim = await eventually(lambda: asyncio.to_thread(waiting_script), timeout=30)
        primary.client_kill_filter(_id=victim)
        await eventually(lambda: asyncio.to_thread(waiting_script, victim), timeout=30)  # run again, waiting
        primary.client_unpause()
        prepared = await step
        assert prepared.duplicate is None and prepared.contact_id is None
        assert "prepare retried after a lost connection" in caplog.text
    finally:
        primary.close()


async def test_mail_no_replica_confirms_gets_451_and_the_webhook_503(
    group: RedisSentinelGroup, open_store: Callable[..., RedisStore], aiohttp_client: Any, tmp_path: Path
) -> None:
    """``min_replicas: 3`` with two replicas: no write is ever confirmed, so nothing is
    acknowledged — SMTP ``451`` (the sending server retries), HTTP ``503``."""
    store = open_store(min_replicas=3, replica_timeout=0.1)
    config = gateway_config(**email_sections(None, tmp_path))
    client = await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port
    answer = await smtp_send(adapter.smtp_port, fixture("gbk_gb2312_subject.eml"))
    assert answer.data is not None and answer.data[0] == 451, answer
    status, body = await post(client, "never-confirmed")
    assert status == 503 and body["error"]["code"] == "storage_unavailable"
