"""End-to-end intake benchmark against its raw baselines, all measured in one run.

* ``B_pub``  — raw aio-pika persistent publishes with publisher confirms, at the relay's
  in-flight window, into a durable priority queue: the broker's own ceiling here.
* ``B_http`` — a bare aiohttp handler under the same load generator: the ceiling of the
  load generator plus HTTP on this machine.
* end to end — signed webhooks → stored in Redis (AOF) → offer confirmed by RabbitMQ,
  with 1 and 2 gateway processes; throughput counts offers that reached the queue, and
  acknowledgement latency is measured open-loop at half the maximum rate.

Every row is judged against DESIGN §6 (the gateway's CPU per new conversation, offers
confirmed ÷ acknowledged at the maximum rate, p99 at half of it); with the defaults the
whole table takes a few minutes.

Run: ``python -m bench.bench_e2e [--count N] [--fsync everysec|always|both] [--kinds api,twilio]``

``--replicas``: instead, intake through Sentinel to a primary with two replicas, with
``storage.min_replicas`` 0 beside 1 (every write then waits for ``WAIT 1``), one gateway:
acknowledged/s, offers confirmed/s and the acknowledgement latency at half the maximum.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aio_pika
import redis as redis_lib
from aiohttp import web

from bench.common import append_section, cpu_seconds, fmt_ms, pids_named, rabbit_vhost
from bench.loadgen import WebhookLoad, api_request, twilio_request
from tests.processes import GatewayProcess
from tests.servers import PrivateRedis, free_port, wait_for

SECRET = "bench-api-secret-0001"
TWILIO_TOKEN = "bench-twilio-token-0001"
WINDOW = 1024  # the relay's default broker.inflight
CONCURRENCY = 64


async def measure_b_pub(amqp_url: str, count: int) -> float:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue("b_pub", durable=True, arguments={"x-max-priority": 10})
    body = json.dumps(
        {"type": "conversation.offer", "conversation_id": "cv_" + "0" * 26, "preview": "x" * 120}
    ).encode()
    sem = asyncio.Semaphore(WINDOW)

    async def one(i: int) -> None:
        async with sem:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body, delivery_mode=2, priority=3, message_id=f"b{i}", content_type="application/json"
                ),
                routing_key="b_pub",
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    await queue.purge()
    await connection.close()
    return count / elapsed


def _bare_server(port: int) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"conversation_id": "cv_x", "message_id": "msg_x", "duplicate": False})

    app = web.Application()
    app.router.add_post("/webhooks/api", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def load_for(kind: str, base: str, count: int, *, rate: float | None = None) -> WebhookLoad:
    prefix = f"b{uuid.uuid4().hex[:6]}"
    if kind == "twilio":
        # Every message from its own number (a new conversation each), distinct across loads.
        area = 200 + uuid.uuid4().int % 700

        def make(ext: str, i: int) -> tuple[str, bytes, dict[str, str]]:
            sender = f"+1{area}{i % 10_000_000:07d}"
            return twilio_request(TWILIO_TOKEN, base, "SM" + uuid.uuid4().hex, sender, f"payment failed {i}")

    else:

        def make(ext: str, i: int) -> tuple[str, bytes, dict[str, str]]:
            return api_request(SECRET, ext, f"{prefix}-{i}", f"付款失败 payment failed #{i}")

    return WebhookLoad([base], make, count=count, prefix=prefix, rate=rate, concurrency=CONCURRENCY, give_up_after=120)


async def measure_b_http(count: int) -> dict[str, Any]:
    port = free_port()
    proc = multiprocessing.Process(target=_bare_server, args=(port,), daemon=True)
    proc.start()
    try:
        await asyncio.to_thread(wait_for, lambda: _port_open(port), 10, "bare server")
        result = await load_for("api", f"http://127.0.0.1:{port}", count).run()
    finally:
        proc.terminate()
        proc.join(5)
    elapsed = result.finished - result.started
    return {"rate": count / elapsed, "p50": result.percentile(50), "p99": result.percentile(99)}


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def queue_depth(amqp_url: str, name: str = "general") -> int:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0
    finally:
        await connection.close()


async def purge(amqp_url: str, name: str = "general") -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        await (await channel.get_queue(name)).purge()
    finally:
        await connection.close()


def gateway_config(
    redis_url: str,
    prefix: str,
    amqp_url: str,
    *,
    events: str | list[str] = "all",
    min_replicas: int = 0,
    broker: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "http": {"host": "127.0.0.1"},
        "smtp": {"enabled": False},
        "storage": {"url": redis_url, "key_prefix": prefix, "min_replicas": min_replicas},
        "broker": {"url": amqp_url, "events": events, **(broker or {})},
        "routing": {"rules": None},
        "auth": {"tokens": [{"token": "bench-ops-token", "role": "ops"}]},
        "channels": {
            "api": {"secret": SECRET},
            "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN},
        },
        "log": {"level": "WARNING"},
    }


async def e2e(
    kind: str,
    gateways: list[GatewayProcess],
    amqp_url: str,
    count: int,
    redis_pid: int,
    outbox_depth: Callable[[], int],
) -> dict[str, Any]:
    """Closed loop at full speed (the maximum rate): acknowledged/s, offers confirmed into
    the queue/s, both over the steady middle of the run (from a quarter to three quarters of
    the webhooks acknowledged) — their ratio says whether the relay keeps up or the outbox
    grows while intake holds — and the CPU time each party spent per message over the whole
    run, until the last offer was confirmed (gateways, Redis, RabbitMQ, this load generator)."""
    await purge(amqp_url)
    loads = [load_for(kind, gw.url, count // len(gateways)) for gw in gateways]
    total = sum(load.count for load in loads)
    parties = {
        "gateways": [gw.proc.pid for gw in gateways if gw.proc is not None],
        "redis": [redis_pid],
        "rabbitmq": pids_named("beam.smp"),
        "loadgen": [os.getpid()],
    }
    probe = await aio_pika.connect(amqp_url)  # not robust: a robust channel caches passive declares
    probe_channel = await probe.channel()

    async def offers() -> int:
        queue = await probe_channel.declare_queue("general", passive=True)
        return queue.declaration_result.message_count or 0

    def acked() -> int:
        return sum(1 for load in loads for o in load.result.outcomes.values() if o.acked_after is not None)

    marks: list[tuple[float, int, int, int]] = []  # (time, acknowledged, offers, outbox depth)

    async def watch() -> None:
        for fraction in (0.25, 0.75):
            while True:
                if acked() >= fraction * total:
                    break
                await asyncio.sleep(0.05)
            marks.append((time.perf_counter(), acked(), await offers(), outbox_depth()))

    deepest = 0

    async def sample() -> None:
        nonlocal deepest
        while True:
            deepest = max(deepest, outbox_depth())
            await asyncio.sleep(0.1)

    before = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in parties.items()}
    start = time.perf_counter()
    watcher = asyncio.create_task(watch())
    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(*(load.run() for load in loads))
    acked_at = time.perf_counter()
    sampler.cancel()
    await asyncio.wait_for(watcher, 30)
    while (arrived := await offers()) < total:
        if time.perf_counter() - start > 300:
            raise RuntimeError(f"offers did not all arrive: {arrived} of {total}")
        await asyncio.sleep(0.05)
    offered_at = time.perf_counter()
    cpu_ms = {
        name: (sum(cpu_seconds(pid) for pid in pids) - before[name]) / total * 1000 for name, pids in parties.items()
    }
    await probe.close()
    acked_total = sum(len(r.acked) for r in results)
    assert acked_total == total, (acked_total, total)
    (t1, a1, o1, d1), (t2, a2, o2, d2) = marks
    return {
        "acked_rate": (a2 - a1) / (t2 - t1),
        "offered_rate": (o2 - o1) / (t2 - t1),
        "keeps_up": (o2 - o1) / max(1, a2 - a1),
        "outbox_growth": (d2 - d1) / (t2 - t1),
        "whole_acked_rate": total / (acked_at - start),
        "drain_s": offered_at - acked_at,
        "deepest": deepest,
        "refused": sum(r.statuses.get(503, 0) for r in results),
        "cpu_ms": cpu_ms,
    }


def outbox_depth_of(redis: PrivateRedis, prefix: str) -> Callable[[], int]:
    """XLEN of the gateways' outbox stream."""
    client = redis_lib.Redis.from_url(redis.url)
    return lambda: int(client.xlen(f"{prefix}:outbox"))


async def latency_at(
    kind: str, gateways: list[GatewayProcess], amqp_url: str, rate: float, seconds: float
) -> dict[str, Any]:
    await purge(amqp_url)
    per = rate / len(gateways)
    loads = [load_for(kind, gw.url, int(per * seconds), rate=per) for gw in gateways]
    results = await asyncio.gather(*(load.run() for load in loads))
    latencies = sorted(x for r in results for x in r.latencies())

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))]

    return {"rate": rate, "p50": pct(50), "p99": pct(99), "p999": pct(99.9), "n": len(latencies)}


SERIES = (0.25, 0.5, 0.75, 1.0)  # fractions of the measured maximum, open loop


async def rate_series(kind: str, gateways: list[GatewayProcess], amqp_url: str, top: float) -> list[str]:
    """Acknowledgement latency as the offered rate rises to the measured maximum."""
    rows = [
        f"Acknowledgement latency at increasing offered rates ({kind}, first row's setup, 5 s each, open loop):",
        "",
        "| offered | of the maximum | p50 | p99 | p99.9 |",
        "|---|---|---|---|---|",
    ]
    for fraction in SERIES:
        point = await latency_at(kind, gateways, amqp_url, top * fraction, 5)
        rows.append(
            f"| {point['rate']:.0f}/s | {fraction:.0%} | {fmt_ms(point['p50'])} | {fmt_ms(point['p99'])} "
            f"| {fmt_ms(point['p999'])} |"
        )
        print(rows[-1], flush=True)
    return rows


def start_profile(gateway: GatewayProcess) -> subprocess.Popen[bytes] | None:
    """py-spy (bench extra) sampling the gateway while the first row's closed loop runs."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if gateway.proc is None or not Path(spy).exists():
        return None
    out = Path(tempfile.mkdtemp(prefix="gw-spy-")) / "profile.txt"
    try:
        return subprocess.Popen(
            [spy, "record", "-p", str(gateway.proc.pid), "-r", "200", "-f", "raw", "-o", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None


def finish_profile(spy: subprocess.Popen[bytes], top: int = 12) -> list[str]:
    """Stop py-spy and summarise where the gateway spent its samples (self time by function)."""
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        return []
    out = Path(spy.args[spy.args.index("-o") + 1])  # type: ignore[index, union-attr, arg-type]
    if not out.exists():
        return []
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frame = stack.split(";")[-1]
        name, _, where = frame.partition(" (")
        module = where.split(":", 1)[0].rsplit("site-packages/", 1)[-1].rsplit("/main/", 1)[-1]
        own[f"`{name}` ({module})"] = own.get(f"`{name}` ({module})", 0) + int(count)
        total += int(count)
    if not total:
        return []
    rows = [
        f"Profile of the gateway during the first row's closed loop (py-spy, {total:,} samples at 200/s; "
        f"self time, top {top}):",
        "",
        "| share | function (module) |",
        "|---|---|",
    ]
    for name, count in sorted(own.items(), key=lambda item: -item[1])[:top]:
        rows.append(f"| {count / total:.1%} | {name} |")
    return rows


# DESIGN §6: the gateway's own CPU per new conversation, by events setting.
CPU_TARGET_MS = {"all": 0.8, "offers only": 0.6}
KEEPS_UP = 0.95  # offers confirmed/s ÷ acknowledged/s at the maximum rate
P99_TARGET = 0.050  # seconds, at half the maximum rate


async def run(
    count: int, fsyncs: list[str], kinds: list[str], offers_only: bool, series_wanted: bool, backpressure: bool = True
) -> str:
    lines: list[str] = []
    rows: list[dict[str, Any]] = []
    series: list[str] = []  # latency at increasing offered rates (first row's setup)
    profile: list[str] = []
    with rabbit_vhost() as amqp_url:
        b_pub = await measure_b_pub(amqp_url, count)
        b_http = await measure_b_http(count)
        lines.append(f"* `B_pub` (aio-pika, persistent, confirms, window {WINDOW}): **{b_pub:.0f} msg/s**")
        lines.append(
            f"* `B_http` (bare aiohttp handler, same load generator, {CONCURRENCY} concurrent): "
            f"**{b_http['rate']:.0f} req/s**, p50 {fmt_ms(b_http['p50'])}, p99 {fmt_ms(b_http['p99'])}"
        )
        lines.append("")
        lines.append(
            "| webhook | Redis AOF fsync | events | gateways | acknowledged/s | offers confirmed/s | confirmed ÷ "
            "acknowledged | outbox growth | ÷ B_pub | ÷ B_http | load at ½ max | p50 | p99 | p99.9 "
            "| CPU ms per message: **gateways** / Redis / RabbitMQ / load generator |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for fsync in fsyncs:
            redis = PrivateRedis(appendfsync=fsync)
            redis.start()
            workdir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
            variants = [("all", n) for n in (1, 2)]
            if offers_only:
                variants += [("offers only", n) for n in (1, 2)]
            try:
                for events, n in variants:
                    prefix = f"bench{uuid.uuid4().hex[:6]}"
                    config = gateway_config(redis.url, prefix, amqp_url, events="all" if events == "all" else [])
                    gws = [GatewayProcess(config, workdir, f"g{i}").start() for i in range(n)]
                    try:
                        await load_for("api", gws[0].url, 300).run()  # warm up: connections, scripts
                        for kind in kinds:
                            first_row = not rows
                            spy = start_profile(gws[0]) if first_row else None
                            pid = redis.proc.pid if redis.proc else 0
                            top = await e2e(kind, gws, amqp_url, count, pid, outbox_depth_of(redis, prefix))
                            if spy is not None:
                                profile = finish_profile(spy)
                            cpu = top["cpu_ms"]
                            half = await latency_at(kind, gws, amqp_url, top["offered_rate"] / 2, 6)
                            rows.append({"events": events, "cpu": cpu["gateways"], "keeps_up": top["keeps_up"], "p99": half["p99"]})
                            if first_row and series_wanted:
                                series = await rate_series(kind, gws, amqp_url, top["offered_rate"])
                            lines.append(
                                f"| {kind} | {fsync} | {events} | {n} | {top['acked_rate']:.0f} | {top['offered_rate']:.0f} "
                                f"| {top['keeps_up']:.2f} | {top['outbox_growth']:+.0f}/s "
                                f"| {top['offered_rate'] / b_pub:.2f} | {top['offered_rate'] / b_http['rate']:.2f} "
                                f"| {half['rate']:.0f}/s | {fmt_ms(half['p50'])} | {fmt_ms(half['p99'])} | {fmt_ms(half['p999'])} "
                                f"| **{cpu['gateways']:.2f}** / {cpu['redis']:.2f} / {cpu['rabbitmq']:.2f} / {cpu['loadgen']:.2f} |"
                            )
                            print(lines[-1], flush=True)
                    finally:
                        for gw in gws:
                            gw.stop()
            finally:
                redis.stop()
    lines.append("")
    lines.append(
        "Every webhook opens a new conversation: with `events: all` that is three AMQP messages (the offer, "
        "`conversation.opened`, `message.inbound`), with offers only (`broker.events: []`) one. Rates are "
        "measured over the steady middle of a closed-loop run at full speed (from a quarter to three quarters "
        "of the webhooks acknowledged); *confirmed ÷ acknowledged* below 1 and a positive *outbox growth* mean "
        "the relay falls behind intake. CPU per message is each party's CPU time over the whole run, until the "
        "last offer was confirmed, ÷ messages (for 2 gateways, both processes together). p99 is measured "
        "open loop at half the maximum rate. The load generator runs in this process, the gateways in their "
        "own; all share the machine's cores with Redis (AOF) and RabbitMQ (whose figure counts every "
        "`beam.smp` on the machine)."
    )
    lines.append("")
    lines += verdicts(rows)
    if backpressure:
        lines += ["", *(await backpressure_row(count // 2))]
    if series:
        lines += ["", *series]
    if profile:
        lines += ["", *profile]
    return "\n".join(lines)


SLOW_RELAY = {"inflight": 8, "outbox_limit": 1500}


async def backpressure_row(count: int) -> list[str]:
    """``broker.outbox_limit`` at work: a relay made too slow on purpose (``inflight: 8``) behind
    one gateway; intake must slow down to the relay's pace with the outbox held near the limit
    (the load generator retries each 503 after 0.5 s, as a provider would)."""
    redis = PrivateRedis(appendfsync="everysec")
    redis.start()
    workdir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    try:
        with rabbit_vhost() as amqp_url:
            prefix = f"bench{uuid.uuid4().hex[:6]}"
            config = gateway_config(redis.url, prefix, amqp_url, broker=SLOW_RELAY)
            gw = GatewayProcess(config, workdir, "bp").start()
            try:
                await load_for("api", gw.url, 100).run()
                pid = redis.proc.pid if redis.proc else 0
                top = await e2e("api", [gw], amqp_url, count, pid, outbox_depth_of(redis, prefix))
            finally:
                gw.stop()
    finally:
        redis.stop()
    row = (
        f"| {SLOW_RELAY['inflight']} | {SLOW_RELAY['outbox_limit']} | {top['acked_rate']:.0f} | {top['offered_rate']:.0f} "
        f"| {top['keeps_up']:.2f} | {top['outbox_growth']:+.0f}/s | {top['deepest']} | {top['refused']} |"
    )
    print(row, flush=True)
    return [
        f"Back-pressure (`broker.outbox_limit`): one gateway, `events: all`, {count} webhooks, the relay "
        "slowed on purpose; every webhook was acknowledged in the end (503s retried after 0.5 s):",
        "",
        "| `broker.inflight` | `broker.outbox_limit` | acknowledged/s | offers confirmed/s | confirmed ÷ acknowledged "
        "| outbox growth | deepest outbox | 503 answers |",
        "|---|---|---|---|---|---|---|---|",
        row,
    ]


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One line per DESIGN §6 intake target: in how many rows it was met."""

    def verdict(hits: int, of: int) -> str:
        return "met" if hits == of else "NOT MET" if hits == 0 else "not met in every row"

    out = ["Verdict against DESIGN §6:", ""]
    for events, target in CPU_TARGET_MS.items():
        mine = [r for r in rows if r["events"] == events]
        if mine:
            hits = sum(1 for r in mine if r["cpu"] <= target)
            worst = max(r["cpu"] for r in mine)
            out.append(
                f"* gateway CPU per new conversation ≤ {target} ms with events {events}: {hits} of {len(mine)} rows, "
                f"worst {worst:.2f} ms (**{verdict(hits, len(mine))}**)"
            )
    hits = sum(1 for r in rows if r["keeps_up"] >= KEEPS_UP)
    out.append(
        f"* offers confirmed/s ≥ {KEEPS_UP} × acknowledged/s at the maximum rate: {hits} of {len(rows)} rows, "
        f"lowest {min(r['keeps_up'] for r in rows):.2f} (**{verdict(hits, len(rows))}**)"
    )
    hits = sum(1 for r in rows if r["p99"] <= P99_TARGET)
    out.append(
        f"* p99 acknowledgement ≤ {P99_TARGET * 1000:.0f} ms at half that rate: {hits} of {len(rows)} rows, "
        f"worst {fmt_ms(max(r['p99'] for r in rows))} (**{verdict(hits, len(rows))}**)"
    )
    return out


async def run_replicated(count: int) -> str:
    """One gateway through Sentinel to a primary with two replicas (no AOF: durability by
    replication), ``min_replicas`` 0 then 1 on the same servers."""
    from tests.ha_servers import RedisSentinelGroup

    lines = [
        "Intake through Sentinel to a primary with two replicas (all on this machine, no AOF), one gateway, "
        "`events: all`; the same servers for both rows:",
        "",
        "| `storage.min_replicas` | acknowledged/s | offers confirmed/s | load at ½ max | p50 | p99 | p99.9 "
        "| CPU ms per message: gateway / Redis primary |",
        "|---|---|---|---|---|---|---|---|",
    ]
    group = RedisSentinelGroup().start()
    workdir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    try:
        with rabbit_vhost() as amqp_url:
            for min_replicas in (0, 1):
                config = gateway_config(group.url, f"bench{uuid.uuid4().hex[:6]}", amqp_url, min_replicas=min_replicas)
                gws = [GatewayProcess(config, workdir, f"r{min_replicas}").start()]
                try:
                    await load_for("api", gws[0].url, 200).run()  # warm up
                    primary = group.primary().proc
                    top = await e2e("api", gws, amqp_url, count, primary.pid if primary else 0, lambda: 0)
                    half = await latency_at("api", gws, amqp_url, top["offered_rate"] / 2, 8)
                    cpu = top["cpu_ms"]
                    lines.append(
                        f"| {min_replicas} | {top['acked_rate']:.0f} | {top['offered_rate']:.0f} | {half['rate']:.0f}/s "
                        f"| {fmt_ms(half['p50'])} | {fmt_ms(half['p99'])} | {fmt_ms(half['p999'])} "
                        f"| {cpu['gateways']:.2f} / {cpu['redis']:.2f} |"
                    )
                    print(lines[-1], flush=True)
                finally:
                    for gw in gws:
                        gw.stop()
    finally:
        group.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    lines += [
        "",
        "With `min_replicas: 1` every write that answers a provider is followed, on the same connection, by a "
        "marker write and `WAIT 1`: one more round trip, and the replica's acknowledgement, before the 200.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6000, help="webhooks per closed-loop run")
    parser.add_argument("--fsync", choices=["everysec", "always", "both"], default="everysec")
    parser.add_argument("--kinds", default="api", help="api, twilio or api,twilio")
    parser.add_argument("--no-offers-only", action="store_true", help="skip the rows with broker.events: []")
    parser.add_argument("--no-series", action="store_true", help="skip latency at increasing rates")
    parser.add_argument("--no-backpressure", action="store_true", help="skip the broker.outbox_limit row")
    parser.add_argument("--title", default="End-to-end intake", help="the BENCHMARKS.md section title")
    parser.add_argument(
        "--replicas", action="store_true", help="only: min_replicas 0 beside 1 through Sentinel (two replicas)"
    )
    args = parser.parse_args()
    if args.replicas:
        append_section("Intake with replicas: storage.min_replicas 0 and 1", asyncio.run(run_replicated(args.count)))
        return
    fsyncs = ["everysec", "always"] if args.fsync == "both" else [args.fsync]
    body = asyncio.run(
        run(
            args.count,
            fsyncs,
            args.kinds.split(","),
            not args.no_offers_only,
            not args.no_series,
            not args.no_backpressure,
        )
    )
    append_section(args.title, body)


if __name__ == "__main__":
    main()
