"""Cases with real ``gateway serve`` processes on one Redis and one RabbitMQ: deadline
warnings fire once across two processes and survive a ``kill -9``; case numbers stay
unique when two processes open 500 cases at once."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import eventually
from tests.helpers import OPS_TOKEN, auth, signed_api_body
from tests.multiprocess.conftest import EventTap, settled
from tests.multiprocess.test_escalation import drain
from tests.multiprocess.test_two_gateways import start

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]

FAST_WORKFLOW = """
number_prefix: MP
timezone: Asia/Shanghai
due_soon_at: 0.5
categories:
  quick:
    name: {zh: 快, en: quick}
    kind: complaint
    first_update_within: 2s
    resolve_within: 4s
    max_resolve_within: 10s
    queue: {queue}
    priority: 4
"""
SLOW_WORKFLOW = FAST_WORKFLOW.replace("2s", "2d").replace("4s", "15d").replace("10s", "30d")
CASE_EVENTS = ("case.due_soon", "case.overdue")


def sections(tmp_path: Path, workflow: str, queue: str) -> dict[str, Any]:
    """The test's own work queue is the gateways' default queue, and the category's."""
    path = tmp_path / f"cases-{abs(hash(workflow))}.yaml"
    path.write_text(workflow.replace("{queue}", queue), encoding="utf-8")
    return {"reply_tracking": {"scan_interval": "0.05s"}, "cases": {"file": str(path)}}


async def conversation(http: aiohttp.ClientSession, base: str, user: str) -> str:
    body, headers = signed_api_body({"id": f"mp-{user}", "from": {"id": user}, "text": "我要投诉"})
    async with http.post(f"{base}/webhooks/api", data=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["conversation_id"])


async def open_case(http: aiohttp.ClientSession, base: str, cid: str) -> str:
    body = {"conversation_id": cid, "category": "quick", "summary": "重复扣款"}
    async with http.post(f"{base}/api/v1/cases", json=body, headers=auth(OPS_TOKEN)) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["number"])


def fired(tap: EventTap, kind: str, number: str) -> list[dict[str, Any]]:
    return [body for rk, _, body in tap.events if rk == kind and body.get("number") == number]


async def test_deadline_warnings_fire_once_across_two_processes_and_after_a_kill_9(
    gateways: Any, tap: EventTap, amqp_url: str, work_queue: str, shared_prefix: str, tmp_path: Path
) -> None:
    fast = sections(tmp_path, FAST_WORKFLOW, work_queue)
    a, b = await start(gateways("a", **fast), gateways("b", **fast))
    async with aiohttp.ClientSession() as http:
        cids = [await conversation(http, (a, b)[i % 2].url, f"dl-{i}") for i in range(6)]
        numbers = [await open_case(http, (a, b)[i % 2].url, cid) for i, cid in enumerate(cids)]
        a.kill()  # kill -9: its part of the scanning stops mid-way; storage keeps every deadline

        def all_fired() -> bool:
            return all(fired(tap, kind, n) for kind in CASE_EVENTS for n in numbers)

        await eventually(all_fired, timeout=30)
        await start(a)  # back after the crash: it must not fire anything again
        sentinel = await open_case(http, a.url, await conversation(http, a.url, "dl-sentinel"))
        # Timers fire in due order: once the later case's deadlines have fired with both
        # processes scanning, any second firing of the earlier ones would have shown.
        await eventually(lambda: len(fired(tap, "case.overdue", sentinel)) == 2, timeout=30)
        await settled(shared_prefix, timers=False)  # every event published …
        await tap.flush()  # … and delivered
        for number in numbers:
            for kind in CASE_EVENTS:
                deadlines = Counter(body["deadline"] for body in fired(tap, kind, number))
                assert deadlines == {"first_update": 1, "resolve": 1}, (number, kind, deadlines)
            async with http.get(f"{b.url}/api/v1/cases/{number}", headers=auth(OPS_TOKEN)) as resp:
                case = await resp.json()
            timeline = Counter(e["kind"] for e in case["timeline"])
            assert (timeline["due_soon"], timeline["overdue"]) == (2, 2) and case["deadlines"]["overdue"] is True
    offers = [json.loads(m.body) for m in await drain(amqp_url, work_queue)]
    priorities: dict[str, list[int]] = {}
    for offer in offers:
        if offer["reason"] == "case_overdue":
            priorities.setdefault(offer["conversation_id"], []).append(offer["priority"])
    # One offer per missed deadline, each raised by 2: from the category's 4 to 6, then 8.
    assert all(sorted(priorities.get(cid, [])) == [6, 8] for cid in cids), priorities


async def test_two_processes_opening_500_cases_at_once_never_share_a_number(
    gateways: Any, work_queue: str, tmp_path: Path
) -> None:
    slow = sections(tmp_path, SLOW_WORKFLOW, work_queue)
    a, b = await start(gateways("a", **slow), gateways("b", **slow))
    limit = asyncio.Semaphore(64)
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(i: int, step: Any, *args: Any) -> str:
            async with limit:
                return str(await step(http, (a, b)[i % 2].url, *args))

        cids = await asyncio.gather(*(one(i, conversation, f"n-{i}") for i in range(500)))
        numbers = await asyncio.gather(*(one(i, open_case, cid) for i, cid in enumerate(cids)))
    assert len(set(numbers)) == 500
    by_day: dict[str, list[int]] = {}
    for number in numbers:
        match = re.fullmatch(r"(MP-\d{8})-(\d{4,})", number)
        assert match, number
        by_day.setdefault(match.group(1), []).append(int(match.group(2)))
    for day, counts in by_day.items():  # each day's numbers: 1, 2, 3 … with none skipped or twice
        assert sorted(counts) == list(range(1, len(counts) + 1)), day
