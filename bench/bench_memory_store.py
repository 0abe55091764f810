"""The embedded default store (``memory://``): how fast intake and claims go through it.

N customer messages through the real intake path (``Ingest.accept``: prepare, route,
ingest), each opening a conversation, then N claims of them by id (``Store.claim``),
in one process on one event loop, one at a time.

Run: ``python -m bench.bench_memory_store [--messages 2000] [--record]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.common import append_section
from gateway.config import config_from_dict
from gateway.core.ingest import Ingest
from gateway.model import Channel, Identity, IdentityKind, InboundMessage
from gateway.routing.router import SingleQueueRouter
from gateway.storage import MemoryStore


def _message(i: int) -> InboundMessage:
    return InboundMessage(
        channel=Channel.API,
        external_id=f"bench-{i}",
        endpoint="api",
        sender=Identity(kind=IdentityKind.API, value=f"customer-{i}"),
        text=f"message {i}",
    )


async def _timed(calls: list, results: list[float]) -> list:  # type: ignore[type-arg]
    out = []
    for call in calls:
        start = time.perf_counter()
        out.append(await call())
        results.append(time.perf_counter() - start)
    return out


async def run(messages: int) -> str:
    store = MemoryStore()
    await store.start()
    router = SingleQueueRouter()
    ingest = Ingest(store=store, router=lambda: router, config=config_from_dict({"routing": {"rules": None}}, env={}))
    ingest_times: list[float] = []
    claim_times: list[float] = []
    accepted = await _timed([lambda i=i: ingest.accept(_message(i)) for i in range(messages)], ingest_times)
    now_ms = int(time.time() * 1000)
    claims = [
        lambda r=r, i=i: store.claim(
            r.conversation_id, f"agent-{i % 50}", version=None, capacity=0, now_ms=now_ms, payload="{}"
        )
        for i, r in enumerate(accepted)
    ]
    outcomes = await _timed(claims, claim_times)
    assert all(o.ok for o in outcomes), [o.reason for o in outcomes if not o.ok][:5]
    await store.close()
    lines = [
        f"{messages:,} messages through `Ingest.accept`, then {messages:,} `claim`s, one at a time, on `MemoryStore`.",
        "",
        "| step | per second | median | p99 |",
        "|---|---|---|---|",
    ]
    for name, times in (("ingest", ingest_times), ("claim", claim_times)):
        p99 = statistics.quantiles(times, n=100)[98]
        lines.append(
            f"| {name} | {len(times) / sum(times):,.0f} | {statistics.median(times) * 1000:.2f} ms "
            f"| {p99 * 1000:.2f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--record", action="store_true", help="append the result to BENCHMARKS.md")
    args = parser.parse_args()
    body = asyncio.run(run(args.messages))
    if args.record:
        append_section("Embedded store (memory://): intake and claims", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
