"""Timed escalation with two gateway processes on real Redis and RabbitMQ."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from string import Template
from typing import Any

import aio_pika
import aiohttp
import pytest

from tests.conftest import delete_queues, eventually
from tests.helpers import ALICE_TOKEN, BOB_TOKEN, auth
from tests.multiprocess.conftest import settled
from tests.multiprocess.test_two_gateways import post, start

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]

RULES = """
version: 1
timezone: Asia/Shanghai
skills: [payments, complaints]
queues:
  $complaints: {skills: {complaints: 3}}
  $general: {}
agents:
  alice: {skills: {complaints: 4, payments: 2}, capacity: 5}
  bob: {skills: {payments: 3}, capacity: 5}
defaults:
  targets: [{queue: $general, priority: 3}]
rules:
  - name: complaint
    when: {keywords: [投诉, complaint]}
    targets:
      - {queue: $complaints, priority: 6, timeout: 2s}
      - {queue: $general, priority: 8}
"""


@pytest.fixture
async def queues(amqp_url: str) -> AsyncIterator[dict[str, str]]:
    """The rules' two queues under names of this test's own (the run's vhost is shared)."""
    tag = uuid.uuid4().hex[:8]
    names = {"complaints": f"complaints-{tag}", "general": f"general-{tag}"}
    yield names
    await delete_queues(amqp_url, *names.values())


def rules_file(tmp_path: Path, queues: dict[str, str], *, timeout: str = "2s") -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(Template(RULES).substitute(queues).replace("timeout: 2s", f"timeout: {timeout}"))
    return path


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


def offers(messages: list[aio_pika.abc.AbstractIncomingMessage], cid: str) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in messages if json.loads(m.body)["conversation_id"] == cid]


async def test_an_unclaimed_offer_escalates_once_and_the_old_offer_goes_stale(
    gateways: Any, amqp_url: str, tmp_path: Path, queues: dict[str, str], shared_prefix: str
) -> None:
    rules = rules_file(tmp_path, queues)
    fast = {"routing": {"rules": str(rules)}, "reply_tracking": {"scan_interval": "0.05s"}}
    a, b = await start(gateways("a", **fast), gateways("b", **fast))
    cid = (await post(a.url, "angry", "我要投诉，退款拖了两周"))["conversation_id"]
    first: list[Any] = []

    async def offered() -> list[Any]:
        first.extend(await drain(amqp_url, queues["complaints"]))
        return first

    [offer] = await eventually(offered)
    assert json.loads(offer.body)["routing_version"] == 1 and offer.priority == 6
    general: list[Any] = []

    async def escalated() -> list[Any]:  # the timeout is 2 s; both processes scan every 50 ms
        general.extend(await drain(amqp_url, queues["general"]))
        return general

    [escalation] = await eventually(escalated, timeout=30)
    body = json.loads(escalation.body)
    assert (body["conversation_id"], body["reason"], body["routing_version"], body["queue"], escalation.priority) == (
        cid,
        "escalated",
        2,
        queues["general"],
        8,
    )
    assert escalation.message_id == f"offer:{cid}:2"
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

    # No further escalation after the last target, nor once claimed: a later complaint's
    # escalation is due 2 s after it was posted, so after anything that could still be due
    # for ours; once it is offered, the scans have gone past that time, and once the outbox
    # is empty everything they caused is in the queues.
    later = (await post(b.url, "later", "complaint: still no refund"))["conversation_id"]

    async def later_escalated() -> list[dict[str, Any]]:
        return offers(await escalated(), later)

    await eventually(later_escalated, timeout=30)
    await settled(shared_prefix, timers=False)
    general.extend(await drain(amqp_url, queues["general"]))
    assert [o["reason"] for o in offers(general, cid)] == ["escalated"]
    assert offers(await drain(amqp_url, queues["complaints"]), cid) == []


async def test_next_serves_only_the_queues_an_agents_skills_reach(
    gateways: Any, tmp_path: Path, queues: dict[str, str]
) -> None:
    rules = rules_file(tmp_path, queues, timeout="1h")
    a = gateways("a", routing={"rules": str(rules)}).start()
    complaint = (await post(a.url, "c1", "complaint about a refund"))["conversation_id"]
    general = (await post(a.url, "c2", "hello"))["conversation_id"]
    async with aiohttp.ClientSession() as http:
        got = await http.post(f"{a.url}/api/v1/agents/me/next", headers=auth(BOB_TOKEN))
        assert (await got.json())["id"] == general  # bob lacks the complaints skill
        assert (await http.post(f"{a.url}/api/v1/agents/me/next", headers=auth(BOB_TOKEN))).status == 204
        got = await http.post(f"{a.url}/api/v1/agents/me/next", headers=auth(ALICE_TOKEN))
        assert (await got.json())["id"] == complaint
