"""Where a customer waiting for a person stands: their place in the queue, a rough expected
wait, and whether anyone is there to answer — from live data in storage, the same for
every gateway process.

**Online.** An agent counts as online while their console's live feed is open — the
console socket keeps a shared marker (``console-seen:<agent>``, a lifetime of
``SEEN_TTL_MS``, renewed on every heartbeat) in storage, so any process sees it — and
they have not set themselves away or offline (``POST /api/v1/agents/me/presence``,
``gateway.selfservice.presence``).

**Expected wait** = the average time a conversation waited to be claimed so far (the
cluster-wide ``claim_wait_ms`` ÷ ``claimed`` counters) × (those ahead + 1) ÷ the agents
online who serve the queue (at least one). None before anything was ever claimed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.config import FaqConfig
from gateway.routing.router import Router
from gateway.selfservice.presence import CONSOLE_SEEN, presence_of
from gateway.storage.base import Store

SEEN_TTL_MS = 90_000  # three console heartbeats: a closed console drops out within this


async def mark_seen(store: Store, agent: str) -> None:
    await store.shared_set(CONSOLE_SEEN + agent, "1", ttl_ms=SEEN_TTL_MS)


async def online_agents(store: Store, agents: Iterable[str]) -> set[str]:
    return {name for name, status in (await presence_of(store, agents)).items() if status == "online"}


async def online_in(store: Store, router: Router, agents: Iterable[str], queue: str | None) -> set[str]:
    """The agents online who can serve ``queue`` (any queue when None)."""
    online = await online_agents(store, agents)
    if queue is None:
        return online
    return {a for a in online if queue in router.agent_queues(a)}


@dataclass(frozen=True, slots=True)
class Standing:
    queue: str
    ahead: int | None  # None: not waiting in the queue (claimed meanwhile)
    waiting: int
    online: int
    wait_seconds: float | None


async def standing(store: Store, router: Router, agents: Iterable[str], queue: str, conversation_id: str) -> Standing:
    (ahead, waiting), online, stats = await asyncio.gather(
        store.queue_position(queue, conversation_id),
        online_in(store, router, agents, queue),
        store.stats(),
    )
    claimed = stats.get("claimed", 0)
    wait = None
    if claimed and ahead is not None:
        average = stats.get("claim_wait_ms", 0) / claimed / 1000
        wait = average * (ahead + 1) / max(1, len(online))
    return Standing(queue=queue, ahead=ahead, waiting=waiting, online=len(online), wait_seconds=wait)


def queue_lines(faq: FaqConfig, where: Standing) -> list[str]:
    """What the customer is told after asking for a person: their place in the queue, then
    the expected wait, or that nobody is online to answer now."""
    if where.ahead is None:
        return []
    lines = [faq.queue_next if where.ahead == 0 else faq.queue_position]
    if where.online == 0:
        lines.append(faq.nobody_online)
    elif where.wait_seconds is not None:
        lines.append(faq.expected_wait)
    values = {
        "{ahead}": str(where.ahead),
        "{position}": str(where.ahead + 1),
        "{minutes}": str(max(1, round((where.wait_seconds or 0) / 60))),
    }
    out = []
    for line in lines:
        for key, value in values.items():
            line = line.replace(key, value)
        if line.strip():
            out.append(line.strip())
    return out
