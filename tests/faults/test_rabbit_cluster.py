"""A three-node RabbitMQ cluster (DESIGN §7.4): ``broker.urls`` (any node, on to the next
when one goes) and ``broker.queue_type: quorum``. Under load from two gateway processes,
the node they are connected to stops: the relay moves to another node, re-sends what was
not confirmed with the same ``message_id``, and no offer is lost.

The cluster is started once for the module (a node takes many seconds to start).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest

from gateway.config import ConfigError
from gateway.routing.publisher import AmqpPublisher, Outgoing
from gateway.routing.topology import EVENTS_EXCHANGE, WORK_EXCHANGE
from gateway.storage import RedisStore
from gateway.web.console_feed import AmqpEventSource
from tests.conftest import REDIS_URL, delete_queues, drop_prefix, eventually, unique_prefix
from tests.faults.reconcile import check_offered_once_each, check_stored_once
from tests.faults.test_faults import load
from tests.ha_servers import RabbitCluster
from tests.helpers import gateway_config
from tests.processes import GatewayProcess, process_config

pytestmark = [pytest.mark.fault, pytest.mark.redis]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitCluster]:
    c = RabbitCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
async def queue(cluster: RabbitCluster) -> AsyncIterator[str]:
    name = f"work-{uuid.uuid4().hex[:10]}"
    yield name
    await delete_queues(cluster.nodes[1].url, name)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = unique_prefix()
    yield p
    await drop_prefix(p)


def test_broker_urls_and_queue_type_are_checked() -> None:
    config = gateway_config(broker={"urls": ["amqp://a:5672/", "amqp://b:5672/"], "queue_type": "quorum"})
    assert config.broker.nodes == ["amqp://a:5672/", "amqp://b:5672/"] and config.broker.queue_type == "quorum"
    assert gateway_config(broker={"url": "amqp://a:5672/"}).broker.nodes == "amqp://a:5672/"
    assert gateway_config().broker.queue_type == "classic"
    with pytest.raises(ConfigError, match=r"broker\.urls"):
        gateway_config(broker={"urls": ["http://a/"]})
    with pytest.raises(ConfigError, match=r"broker\.queue_type"):
        gateway_config(broker={"queue_type": "stream"})


def queue_types(cluster: RabbitCluster, node: int = 1) -> dict[str, str]:
    out = cluster.nodes[node]._ctl("list_queues", "name", "type", "--quiet", "--no-table-headers").stdout.decode()
    return dict(line.split("\t")[:2] for line in out.splitlines() if "\t" in line)


async def test_quorum_queues_are_declared_and_a_publisher_moves_to_the_next_node(
    cluster: RabbitCluster, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.routing.broker_connection")
    publisher = AmqpPublisher(cluster.urls, publish_timeout=5, queue_type="quorum", reconnect_interval=0.2)
    await publisher.start([queue])
    try:
        await eventually(publisher.ready, timeout=60)
        types = await asyncio.to_thread(queue_types, cluster)
        assert types[queue] == "quorum" and types["gateway.dead-letters"] == "quorum", types
        body = b'{"type": "conversation.offer"}'
        await publisher.publish(Outgoing(WORK_EXCHANGE, queue, body, "m-1", priority=5))
        await asyncio.to_thread(cluster.nodes[0].stop_app)  # the node it is connected to
        try:
            # stop_app returns once the node is down: by then the publisher may be on the next.
            await eventually(lambda: "moving to the next" in caplog.text and publisher.ready(), timeout=60)
            await publisher.publish(Outgoing(WORK_EXCHANGE, queue, body, "m-2", priority=5))
        finally:
            await asyncio.to_thread(cluster.nodes[0].start_app)
    finally:
        await publisher.close()
    connection = await aio_pika.connect(cluster.nodes[2].url)
    try:
        channel = await connection.channel()
        q = await channel.get_queue(queue)
        ids = []
        while (message := await q.get(no_ack=True, fail=False)) is not None:
            ids.append(message.message_id)
    finally:
        await connection.close()
    assert ids == ["m-1", "m-2"]  # the first survived its node's stop: the queue is replicated


async def test_a_node_stopped_under_load_loses_no_offer(
    tmp_path: Path, prefix: str, cluster: RabbitCluster, queue: str
) -> None:
    def gateway(name: str) -> GatewayProcess:
        config = process_config(
            storage_url=REDIS_URL,
            prefix=prefix,
            broker_url="memory://",
            broker={"urls": cluster.urls, "queue_type": "quorum", "publish_timeout": "2s", "reclaim_idle": "2s"},
            routing={"rules": None, "default_queue": queue},
        )
        return GatewayProcess(config, tmp_path, name)

    a, b = gateway("a"), gateway("b")
    await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
    try:
        traffic = load([a.url, b.url], count=400, rate=80)
        run = asyncio.create_task(traffic.run())
        await eventually(lambda: len(traffic.result.acked) >= 60, timeout=60)
        await asyncio.to_thread(cluster.nodes[0].stop_app)  # every gateway is connected to it
        try:
            result = await run
        finally:
            await asyncio.to_thread(cluster.nodes[0].start_app)
        assert len(result.acked) == 400
        assert set(result.statuses) == {200}, result.statuses  # intake never noticed
        store = RedisStore(REDIS_URL, prefix=prefix)
        try:
            await check_stored_once(result, store)
            report = await check_offered_once_each(result, cluster.nodes[1].url, queue)
            assert report["conversations"] == 400
        finally:
            await store.close()
        assert "moving to the next" in a.log() + b.log()
    finally:
        a.stop()
        b.stop()


async def test_the_console_event_feed_moves_to_the_next_node_and_resyncs(cluster: RabbitCluster) -> None:
    received: list[str] = []
    resyncs: list[int] = []
    source = AmqpEventSource(cluster.urls, reconnect_interval=0.2)
    await source.start(lambda key, body: received.append(key), lambda: resyncs.append(1))
    await source.activate()

    async def publish(key: str) -> None:
        connection = await aio_pika.connect(cluster.nodes[2].url)
        try:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
            await exchange.publish(aio_pika.Message(b"{}"), routing_key=key)
        finally:
            await connection.close()

    try:
        await eventually(source.ready, timeout=60)
        await publish("test.before")
        await eventually(lambda: "test.before" in received, timeout=30)
        await asyncio.to_thread(cluster.nodes[0].stop_app)  # the feed's node
        try:
            await eventually(lambda: len(resyncs) >= 2 and source.ready(), timeout=60)  # subscribed again: reload
            await publish("test.after")
            await eventually(lambda: "test.after" in received, timeout=30)
        finally:
            await asyncio.to_thread(cluster.nodes[0].start_app)
    finally:
        await source.close()
