"""End-to-end intake benchmark against its raw baselines, all measured in one run.

* ``B_pub``  — raw aio-pika persistent publishes with publisher confirms, at the relay's
  in-flight window, into a durable priority queue: the broker's own ceiling here.
* ``B_http`` — a bare aiohttp handler under the same load generator: the ceiling of the
  load generator plus HTTP on this machine.
* end to end — signed webhooks → stored in Redis (AOF) → offer confirmed by RabbitMQ,
  with 1 and 2 gateway processes; throughput counts offers that reached the queue, and
  acknowledgement latency is measured open-loop at half the maximum rate.

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
from pathlib import Path
from typing import Any

import aio_pika
from aiohttp import web

from bench.common import append_section, cpu_seconds, fmt_ms, pids_named, rabbit_vhost
from bench.loadgen import WebhookLoad, api_request, twilio_request
from tests.processes import GatewayProcess
from tests.servers import PrivateRedis, free_port, wait_for

SECRET = "bench-api-secret-0001"
TWILIO_TOKEN = "bench-twilio-token-0001"
WINDOW = 256
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
    redis_url: str, prefix: str, amqp_url: str, *, events: str | list[str] = "all", min_replicas: int = 0
) -> dict[str, Any]:
    return {
        "http": {"host": "127.0.0.1"},
        "smtp": {"enabled": False},
        "storage": {"url": redis_url, "key_prefix": prefix, "min_replicas": min_replicas},
        "broker": {"url": amqp_url, "events": events},
        "routing": {"rules": None},
        "auth": {"tokens": [{"token": "bench-ops-token", "role": "ops"}]},
        "channels": {
            "api": {"secret": SECRET},
            "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN},
        },
        "log": {"level": "WARNING"},
    }


async def e2e(kind: str, gateways: list[GatewayProcess], amqp_url: str, count: int, redis_pid: int) -> dict[str, Any]:
    """Closed loop at full speed: acknowledged/s, offers confirmed into the queue/s, and the
    CPU time each party spent per message (gateways, Redis, RabbitMQ, this load generator)."""
    await purge(amqp_url)
    loads = [load_for(kind, gw.url, count // len(gateways)) for gw in gateways]
    total = sum(load.count for load in loads)
    parties = {
        "gateways": [gw.proc.pid for gw in gateways if gw.proc is not None],
        "redis": [redis_pid],
        "rabbitmq": pids_named("beam.smp"),
        "loadgen": [os.getpid()],
    }
    before = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in parties.items()}
    start = time.perf_counter()
    results = await asyncio.gather(*(load.run() for load in loads))
    acked_at = time.perf_counter()
    while await queue_depth(amqp_url) < total:
        if time.perf_counter() - start > 300:
            raise RuntimeError("offers did not all arrive")
        await asyncio.sleep(0.05)
    offered_at = time.perf_counter()
    cpu_ms = {
        name: (sum(cpu_seconds(pid) for pid in pids) - before[name]) / total * 1000 for name, pids in parties.items()
    }
    acked = sum(len(r.acked) for r in results)
    assert acked == total, (acked, total)
    return {"acked_rate": total / (acked_at - start), "offered_rate": total / (offered_at - start), "cpu_ms": cpu_ms}


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
        f"Acknowledgement latency at increasing offered rates ({kind}, first row's setup, 6 s each, open loop):",
        "",
        "| offered | of the maximum | p50 | p99 | p99.9 |",
        "|---|---|---|---|---|",
    ]
    for fraction in SERIES:
        point = await latency_at(kind, gateways, amqp_url, top * fraction, 6)
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


async def run(count: int, fsyncs: list[str], kinds: list[str], offers_only: bool) -> str:
    lines: list[str] = []
    costs: list[tuple[str, int, dict[str, float]]] = []  # CPU per message of the events: all rows
    p99s: list[float] = []  # p99 at half the maximum, per row
    ratios: list[float] = []  # offers confirmed/s ÷ B_pub, per row
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
            "| webhook | Redis AOF fsync | events | gateways | acknowledged/s | offers confirmed/s | ÷ B_pub | ÷ B_http "
            "| load at ½ max | p50 | p99 | p99.9 | CPU ms per message: gateways / Redis / RabbitMQ / load generator |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for fsync in fsyncs:
            redis = PrivateRedis(appendfsync=fsync)
            redis.start()
            workdir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
            variants = [("all", n) for n in (1, 2)]
            if offers_only and fsync == fsyncs[0]:
                variants.append(("none", 1))
            try:
                for events, n in variants:
                    prefix = f"bench{uuid.uuid4().hex[:6]}"
                    config = gateway_config(redis.url, prefix, amqp_url, events="all" if events == "all" else [])
                    gws = [GatewayProcess(config, workdir, f"g{i}").start() for i in range(n)]
                    try:
                        await load_for("api", gws[0].url, 200).run()  # warm up: connections, scripts
                        for kind in kinds:
                            first_row = not p99s
                            spy = start_profile(gws[0]) if first_row else None
                            top = await e2e(kind, gws, amqp_url, count, redis.proc.pid if redis.proc else 0)
                            if spy is not None:
                                profile = finish_profile(spy)
                            cpu = top["cpu_ms"]
                            if events == "all":
                                costs.append((kind, n, cpu))
                            half = await latency_at(kind, gws, amqp_url, top["offered_rate"] / 2, 8)
                            p99s.append(half["p99"])
                            ratios.append(top["offered_rate"] / b_pub)
                            if first_row:
                                series = await rate_series(kind, gws, amqp_url, top["offered_rate"])
                            lines.append(
                                f"| {kind} | {fsync} | {events} | {n} | {top['acked_rate']:.0f} | {top['offered_rate']:.0f} "
                                f"| {top['offered_rate'] / b_pub:.2f} | {top['offered_rate'] / b_http['rate']:.2f} "
                                f"| {half['rate']:.0f}/s | {fmt_ms(half['p50'])} | {fmt_ms(half['p99'])} | {fmt_ms(half['p999'])} "
                                f"| {cpu['gateways']:.2f} / {cpu['redis']:.2f} / {cpu['rabbitmq']:.2f} / {cpu['loadgen']:.2f} |"
                            )
                            print(lines[-1], flush=True)
                    finally:
                        for gw in gws:
                            gw.stop()
            finally:
                redis.stop()
    lines.append("")
    lines.append(
        "Targets: offers confirmed/s ≥ 0.6 × `B_pub`; p99 acknowledgement ≤ 50 ms at half the "
        "maximum rate. Every webhook here opens a new conversation, which is three AMQP messages with "
        "`events: all` (the offer, `conversation.opened`, `message.inbound`) against one per `B_pub` "
        "message, plus two Redis scripts and a signed HTTP request in Python; `events: none` "
        "(`broker.events: []`) publishes the offer only. The load generator runs in this process, the "
        "gateways in their own; all share the same two cores with Redis (AOF) and RabbitMQ."
    )
    fast = sum(1 for p in p99s if p <= 0.050)
    high = sum(1 for r in ratios if r >= 0.6)

    def verdict(hits: int) -> str:
        return "met" if hits == len(p99s) else "NOT MET" if hits == 0 else "not met in every row"

    lines.append("")
    lines.append(
        f"Verdict: offers confirmed/s ≥ 0.6 × `B_pub` in {high} of {len(ratios)} rows (**{verdict(high)}**); "
        f"p99 ≤ 50 ms at half the maximum rate in {fast} of {len(p99s)} rows (**{verdict(fast)}**)."
    )
    if series:
        lines += ["", *series]
    if profile:
        lines += ["", *profile]
    if costs:
        totals = sorted(sum(cpu.values()) for _, _, cpu in costs)
        kind, n, cpu = costs[0]
        cores = os.cpu_count() or 1
        low, high = cores * 1000 / totals[-1], cores * 1000 / totals[0]
        lines.append("")
        lines.append(
            f"Where the time goes ({kind}, {n} gateway, first row): every message costs {sum(cpu.values()):.2f} ms of "
            f"CPU in all — {cpu['gateways']:.2f} ms in the gateway (HTTP, signature, parsing, masking, the Redis "
            f"scripts' round trips, the relay's AMQP frames), {cpu['redis']:.2f} ms in Redis, {cpu['rabbitmq']:.2f} ms "
            f"in RabbitMQ and {cpu['loadgen']:.2f} ms in the load generator. Across the `events: all` rows a message "
            f"costs {totals[0]:.2f}–{totals[-1]:.2f} ms in all; {cores} cores shared by every party can then confirm "
            f"at most about {low:.0f}–{high:.0f} offers/s ({low / b_pub:.2f}–{high / b_pub:.2f} × `B_pub`) whatever "
            "the number of gateway processes. The 0.6 × `B_pub` target needs the gateways on cores of their own or "
            "a gateway several times cheaper per message."
        )
    return "\n".join(lines)


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
                    top = await e2e("api", gws, amqp_url, count, primary.pid if primary else 0)
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
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--fsync", choices=["everysec", "always", "both"], default="both")
    parser.add_argument("--kinds", default="api")
    parser.add_argument("--no-offers-only", action="store_true", help="skip the run with broker.events: []")
    parser.add_argument(
        "--replicas", action="store_true", help="only: min_replicas 0 beside 1 through Sentinel (two replicas)"
    )
    args = parser.parse_args()
    if args.replicas:
        append_section("Intake with replicas: storage.min_replicas 0 and 1", asyncio.run(run_replicated(args.count)))
        return
    fsyncs = ["everysec", "always"] if args.fsync == "both" else [args.fsync]
    body = asyncio.run(run(args.count, fsyncs, args.kinds.split(","), not args.no_offers_only))
    append_section("End-to-end intake", body)


if __name__ == "__main__":
    main()
