"""Self-service and ratings with two real gateway processes on one Redis and real RabbitMQ:
an answer goes out once, only the handoff is offered, the counters are cluster-wide."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.storage import RedisStore
from tests.conftest import REDIS_URL, drop_prefix, eventually, take_all, unique_prefix
from tests.helpers import ALICE_TOKEN, API_SECRET, auth, signed_api_body
from tests.processes import GatewayProcess, process_config
from tests.web.fakes import FakeCallback, start_crm

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = unique_prefix()
    yield name
    await drop_prefix(name)


@pytest.fixture
def queue_name(work_queue: str) -> str:
    return work_queue


@pytest.fixture
def pair(
    tmp_path: Path, amqp_url: str, prefix: str, queue_name: str, crm: tuple[FakeCallback, str]
) -> Iterator[list[GatewayProcess]]:
    config = process_config(
        storage_url=REDIS_URL,
        prefix=prefix,
        broker_url=amqp_url,
        routing={"rules": None, "default_queue": queue_name},
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        faq={"file": str(ROOT / "config" / "faq.yaml")},
        csat={"enabled": True},
        reply_tracking={"scan_interval": "0.05s"},
    )
    gateways = [GatewayProcess(config, tmp_path, "a"), GatewayProcess(config, tmp_path, "b")]
    yield gateways
    for gw in gateways:
        gw.kill()


async def call(method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def say(base: str, user: str, text: str) -> str:
    body, headers = signed_api_body({"id": f"{user}-{uuid.uuid4().hex}", "from": {"id": user}, "text": text})
    status, data = await call("POST", f"{base}/webhooks/api", data=body, headers=headers)
    assert status == 200, data
    return str(data["conversation_id"])


async def published(prefix: str) -> None:
    """Every outbox entry either process wrote is confirmed by RabbitMQ (so in its queue)."""
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:

        async def empty() -> bool:
            return (await store.outbox_stats()).depth == 0

        await eventually(empty, timeout=30)
    finally:
        await store.close()


async def test_two_processes_answer_once_offer_only_the_handoff_and_count_together(
    pair: list[GatewayProcess], crm: tuple[FakeCallback, str], amqp_url: str, queue_name: str, prefix: str
) -> None:
    a, b = pair
    await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
    fake = crm[0]

    cid = await say(a.url, "mp-1", "我忘记密码了，怎么重置？")
    await eventually(lambda: fake.received, timeout=30)
    assert await say(b.url, "mp-1", "人工") == cid  # the other process sees the episode
    await published(prefix)  # whatever either process offered is in the queue now: the handoff, once
    [offer] = [json.loads(m.body) for m in await take_all(amqp_url, queue_name)]
    assert offer["conversation_id"] == cid
    assert offer["reason"] == "new" and offer["preview"] == "人工" and offer["routing_version"] == 1
    await eventually(lambda: len(fake.received) >= 2, timeout=30)  # the handoff confirmation
    texts = [json.loads(body)["text"] for _, body in fake.received]
    assert len(texts) == 2 and "账户安全" in texts[0] and "转接人工客服" in texts[1]

    conv_url = f"/api/v1/conversations/{cid}"
    status, _ = await call("POST", f"{a.url}{conv_url}/claim", json={"routing_version": 1}, headers=auth(ALICE_TOKEN))
    assert status == 200
    status, _ = await call(
        "POST", f"{a.url}{conv_url}/messages", json={"text": "已为您重置"}, headers=auth(ALICE_TOKEN)
    )
    assert status == 202
    status, _ = await call("POST", f"{b.url}{conv_url}/resolve", headers=auth(ALICE_TOKEN))
    assert status == 200
    await eventually(lambda: any("csat-request" in json.loads(body)["flags"] for _, body in fake.received), timeout=30)
    await say(a.url, "mp-1", "5 很满意")

    async def counted() -> dict[str, Any]:
        status, data = await call("GET", f"{b.url}/api/v1/stats", headers=auth())
        assert status == 200
        return data if data["ratings"]["responses"] == 1 else {}

    data = await eventually(counted, timeout=30)
    assert data["ratings"]["distribution"]["5"] == 1 and data["ratings"]["requested"] == 1
    assert data["self_service"]["answered"] == 1 and data["self_service"]["handed_off"] == 1
    status, conv = await call("GET", f"{a.url}{conv_url}", headers=auth())
    assert conv["status"] == "resolved" and conv["attributes"]["rating"] == {
        **conv["attributes"]["rating"],
        "score": 5,
        "comment": "很满意",
    }
    flags = [m["flags"] for m in conv["messages"]]
    assert sum("csat-request" in f for f in flags) == 1 and sum("faq" in f for f in flags) == 1
    for gw in pair:
        assert gw.stop() == 0
