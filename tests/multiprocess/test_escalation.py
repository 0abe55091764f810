"""Timed escalation with two gateway processes on real Redis and RabbitMQ."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest

from tests.helpers import ALICE_TOKEN, BOB_TOKEN, auth
from tests.multiprocess.test_two_gateways import post

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]

RULES = """
version: 1
timezone: Asia/Shanghai
skills: [payments, complaints]
queues:
  complaints: {skills: {complaints: 3}}
  general: {}
agents:
  alice: {skills: {complaints: 4, payments: 2}, capacity: 5}
  bob: {skills: {payments: 3}, capacity: 5}
defaults:
  targets: [{queue: general, priority: 3}]
rules:
  - name: complaint
    when: {keywords: [投诉, complaint]}
    targets:
      - {queue: complaints, priority: 6, timeout: 2s}
      - {queue: general, priority: 8}
"""


async def drain(amqp_url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect_robust(amqp_url)
    out = []
    try:
        channel = await connection.channel()
        q = await channel.get_queue(queue)
        while (message := await q.get(no_ack=True, fail=False)) is not None:
            out.append(message)
    finally:
        await connection.close()
    return out


async def test_an_unclaimed_offer_escalates_once_and_the_old_offer_goes_stale(
    gateways: Any, amqp_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(RULES)
    fast = {"routing": {"rules": str(rules)}, "reply_tracking": {"scan_interval": "0.05s"}}
    a = gateways("a", **fast).start()
    b = gateways("b", **fast).start()
    cid = (await post(a.url, "angry", "我要投诉，退款拖了两周"))["conversation_id"]
    first = []
    for _ in range(50):
        first += await drain(amqp_url, "complaints")
        if first:
            break
        await asyncio.sleep(0.1)
    [offer] = first
    assert json.loads(offer.body)["routing_version"] == 1 and offer.priority == 6
    escalated: list[Any] = []

    async def ours() -> list[Any]:  # the run's vhost is shared: other tests' offers may wait in general
        return [m for m in await drain(amqp_url, "general") if json.loads(m.body)["conversation_id"] == cid]

    for _ in range(100):  # the timeout is 2 s; both processes scan every 50 ms
        escalated += await ours()
        if escalated:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    escalated += await ours()
    assert len(escalated) == 1, [json.loads(m.body) for m in escalated]
    body = json.loads(escalated[0].body)
    assert (body["reason"], body["routing_version"], body["queue"], escalated[0].priority) == (
        "escalated",
        2,
        "general",
        8,
    )
    assert escalated[0].message_id == f"offer:{cid}:2"
    async with aiohttp.ClientSession() as http:
        stale = await http.post(
            f"{b.url}/api/v1/conversations/{cid}/claim", json={"routing_version": 1}, headers=auth(ALICE_TOKEN)
        )
        assert stale.status == 409 and (await stale.json())["error"]["code"] == "stale"
        ok = await http.post(
            f"{a.url}/api/v1/conversations/{cid}/claim", json={"routing_version": 2}, headers=auth(BOB_TOKEN)
        )
        assert ok.status == 200 and (await ok.json())["assignee"] == "bob"
        conv = await (await http.get(f"{b.url}/api/v1/conversations/{cid}", headers=auth())).json()
        assert conv["routing"]["rule"] == "complaint" and conv["target_index"] == 1
    await asyncio.sleep(2.5)  # no further escalation after the last target, nor once claimed
    assert await ours() == [] and await drain(amqp_url, "complaints") == []


async def test_next_serves_only_the_queues_an_agents_skills_reach(gateways: Any, tmp_path: Path) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(RULES.replace("timeout: 2s", "timeout: 1h"))
    a = gateways("a", routing={"rules": str(rules)}).start()
    complaint = (await post(a.url, "c1", "complaint about a refund"))["conversation_id"]
    general = (await post(a.url, "c2", "hello"))["conversation_id"]
    async with aiohttp.ClientSession() as http:
        got = await http.post(f"{a.url}/api/v1/agents/me/next", headers=auth(BOB_TOKEN))
        assert (await got.json())["id"] == general  # bob lacks the complaints skill
        assert (await http.post(f"{a.url}/api/v1/agents/me/next", headers=auth(BOB_TOKEN))).status == 204
        got = await http.post(f"{a.url}/api/v1/agents/me/next", headers=auth(ALICE_TOKEN))
        assert (await got.json())["id"] == complaint
