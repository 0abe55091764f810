"""Web chat at scale: many idle widget sessions on one gateway process.

Starts one ``gateway serve`` process, opens ``--sessions`` websockets to it from this
(separate) process, each a new visitor that said hello and got its token, and keeps them
open and answering the server's heartbeats. Then it reports the gateway's resident memory
(target: < 1 GiB for 10,000 sessions) and how long one agent reply takes from the
agent's ``POST /api/v1/conversations/{id}/messages`` to the visitor's socket, while all
the other sessions stay connected.

    python -m bench.bench_webchat                      # 10,000 sessions, memory:// storage
    python -m bench.bench_webchat --storage redis://127.0.0.1:6379/0
    python -m bench.bench_webchat --sessions 2000 --no-append
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "BENCHMARKS.md"
ORIGIN = "https://shop.example.com"
OPS = "bench-ops-token-1"
AGENT = "bench-agent-token-1"
MIB = 1024 * 1024


def raise_fd_limit(wanted: int) -> int:
    """Sockets are file descriptors: lift the soft limit as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (
        f"nproc {os.cpu_count()} ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


class Gateway:
    def __init__(self, storage: str, sessions: int, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = f"bench-wc-{uuid.uuid4().hex[:8]}"
        config = {
            "http": {"host": "127.0.0.1", "port": self.port, "public_url": self.url},
            "smtp": {"enabled": False},
            "storage": {"url": storage, "key_prefix": self.prefix},
            "broker": {"url": "memory://"},
            "routing": {"rules": None},
            "auth": {"tokens": [{"token": OPS, "role": "ops"}, {"token": AGENT, "role": "agent", "agent": "alice"}]},
            "channels": {
                "api": {"secret": "bench-api-secret-0001"},
                # One client address opens every session here, so the per-address limit is lifted.
                "webchat": {"allowed_origins": [ORIGIN], "max_connections_per_ip": sessions + 100},
            },
            "log": {"level": "WARNING"},
        }
        self.config_path = workdir / "gateway.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(self.config_path)],
            cwd=ROOT,
            env=env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{self.url}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"gateway did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Session:
    """One widget: a websocket kept open (its reader answers heartbeats) and its frames."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, welcome: dict[str, Any]) -> None:
        self.ws = ws
        self.welcome = welcome
        self.frames: asyncio.Queue[tuple[float, dict[str, Any]]] | None = None
        self.closed = False
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is aiohttp.WSMsgType.TEXT and self.frames is not None:
                self.frames.put_nowait((time.perf_counter(), json.loads(msg.data)))
        self.closed = True

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> tuple[float, dict[str, Any]]:
        assert self.frames is not None
        async with asyncio.timeout(timeout):
            while True:
                at, frame = await self.frames.get()
                if predicate(frame):
                    return at, frame


async def open_session(http: aiohttp.ClientSession, url: str) -> Session:
    ws = await http.ws_connect(f"{url}/webchat/ws", headers={"Origin": ORIGIN}, autoping=True, heartbeat=None)
    await ws.send_str('{"type":"hello"}')
    msg = await ws.receive(timeout=60)
    welcome = json.loads(msg.data)
    if welcome.get("type") != "welcome":
        raise RuntimeError(f"no welcome: {welcome}")
    return Session(ws, welcome)


async def connect_all(http: aiohttp.ClientSession, url: str, count: int, concurrency: int) -> list[Session]:
    sessions: list[Session] = []
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one() -> None:
        nonlocal failures
        async with gate:
            for attempt in range(3):
                try:
                    sessions.append(await open_session(http, url))
                    return
                except (aiohttp.ClientError, OSError, TimeoutError, RuntimeError):
                    await asyncio.sleep(0.5 * (attempt + 1))
            failures += 1

    started = time.perf_counter()
    tasks = [asyncio.create_task(one()) for _ in range(count)]
    while not all(t.done() for t in tasks):
        await asyncio.sleep(2)
        print(f"  connected {len(sessions)}/{count} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    await asyncio.gather(*tasks)
    if failures:
        raise RuntimeError(f"{failures} sessions could not connect")
    return sessions


async def reply_latencies(http: aiohttp.ClientSession, gw: Gateway, target: Session, replies: int) -> list[float]:
    """Seconds from the agent's POST to the frame on the visitor's socket, one reply at a time."""
    target.frames = asyncio.Queue()
    await target.ws.send_str('{"type":"message","id":"bench-1","text":"我的付款失败了"}')
    await target.wait_for(lambda f: f.get("type") == "ack")
    visitor = target.welcome["visitor_id"]
    ops = {"Authorization": f"Bearer {OPS}"}
    conversation_id = None
    for _ in range(100):
        async with http.get(f"{gw.url}/api/v1/conversations", headers=ops) as resp:
            found = [c for c in (await resp.json())["conversations"] if c["endpoint"] == f"webchat:{visitor}"]
        if found:
            conversation_id = found[0]["id"]
            break
        await asyncio.sleep(0.05)
    assert conversation_id, "the visitor's conversation did not appear"
    latencies = []
    for i in range(replies):
        started = time.perf_counter()
        async with http.post(
            f"{gw.url}/api/v1/conversations/{conversation_id}/messages",
            json={"text": f"您好，这是第 {i + 1} 条回复"},
            headers={"Authorization": f"Bearer {AGENT}"},
        ) as resp:
            assert resp.status == 202, await resp.text()
            reply_id = (await resp.json())["id"]
        at, _ = await target.wait_for(
            lambda f, rid=reply_id: f.get("type") == "message" and f["message"]["id"] == rid  # type: ignore[misc]
        )
        latencies.append(at - started)
        await asyncio.sleep(0.2)
    return latencies


async def run(args: argparse.Namespace) -> dict[str, Any]:
    fds = raise_fd_limit(args.sessions * 2 + 1024)  # the gateway inherits the limit
    if fds < args.sessions + 256:
        raise SystemExit(f"the open-files limit is {fds}; {args.sessions} sessions need more (raise the hard limit)")
    with tempfile.TemporaryDirectory(prefix="bench-webchat-") as tmp:
        gw = Gateway(args.storage, args.sessions, Path(tmp))
        gw.start()
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            try:
                await gw.wait_ready(http)
                assert gw.proc is not None
                await asyncio.sleep(1)
                baseline, _ = rss_bytes(gw.proc.pid)
                started = time.perf_counter()
                sessions = await connect_all(http, gw.url, args.sessions, args.concurrency)
                connect_seconds = time.perf_counter() - started
                await asyncio.sleep(args.settle)  # idle: only heartbeats go back and forth
                rss, peak = rss_bytes(gw.proc.pid)
                target = random.choice(sessions)
                latencies = await reply_latencies(http, gw, target, args.replies)
                still_open = sum(not s.closed for s in sessions)
                rss_after, peak = rss_bytes(gw.proc.pid)
                client_rss, _ = rss_bytes(os.getpid())
            finally:
                gw.stop()
                for s in locals().get("sessions", []):
                    s.task.cancel()
        if args.storage.startswith("redis"):
            await drop_prefix(args.storage, gw.prefix)
    return {
        "sessions": args.sessions,
        "storage": args.storage,
        "connect_seconds": connect_seconds,
        "baseline_rss": baseline,
        "rss": rss,
        "rss_after": rss_after,
        "peak": peak,
        "per_session": (rss - baseline) / args.sessions,
        "latencies": latencies,
        "still_open": still_open,
        "client_rss": client_rss,
    }


async def drop_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


def report(result: dict[str, Any]) -> str:
    lat = sorted(result["latencies"])
    ms = [x * 1000 for x in lat]
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    verdict = "meets" if result["rss"] < 1024 * MIB else "MISSES"
    return "\n".join(
        [
            f"| {result['sessions']:,} idle sessions, storage `{result['storage']}` | |",
            "|---|---|",
            f"| gateway RSS with every session open | **{result['rss'] / MIB:.0f} MiB** ({verdict} the < 1 GiB target) |",
            f"| gateway RSS before any session / peak | {result['baseline_rss'] / MIB:.0f} MiB / {result['peak'] / MIB:.0f} MiB |",
            f"| memory per session | {result['per_session'] / 1024:.1f} KiB |",
            f"| time to open all sessions (hello → welcome) | {result['connect_seconds']:.1f} s |",
            f"| agent reply → visitor's socket, {len(ms)} replies | median {statistics.median(ms):.1f} ms, "
            f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms |",
            f"| sessions still open at the end | {result['still_open']:,} of {result['sessions']:,} |",
        ]
    )


def append(body: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(shlex.quote(a) for a in ["python", "-m", "bench.bench_webchat", *sys.argv[1:]])
    header = (
        ""
        if RESULTS.exists()
        else "# Benchmarks\n\nNewest results last. Each section names the command that produced it.\n"
    )
    section = (
        f"\n## Web chat: idle websocket sessions — {stamp}\n\n"
        f"Command: `{command}`  \nMachine: {machine()}\n\n{body}\n\n"
        "The gateway runs as one `gateway serve` process; the sessions are opened from the bench's own "
        "process. Each session is a new visitor (hello → token) that then stays idle, answering the "
        "server's 30 s heartbeats. The latency runs from the agent's POST to the frame arriving on the "
        "visitor's socket: store, timer wake-up, the adapter's send, the reply bus, the websocket.\n"
    )
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(header + section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--storage", default="memory://", help="memory:// or redis://host:port/db")
    parser.add_argument("--replies", type=int, default=20, help="agent replies to time")
    parser.add_argument("--concurrency", type=int, default=100, help="sessions being opened at once")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle before measuring")
    parser.add_argument("--no-append", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    body = report(result)
    print("reply latencies (ms, in order):", " ".join(f"{x * 1000:.1f}" for x in result["latencies"]), file=sys.stderr)
    print(body)
    if not args.no_append:
        append(body)


if __name__ == "__main__":
    main()
