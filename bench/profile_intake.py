"""Where the gateway's CPU goes on the intake path: one gateway, one closed-loop run of
new conversations (signed API webhooks → Redis → offers confirmed), the gateway's own CPU
per message, and a py-spy profile (self time and time including callees).

Run: ``python -m bench.profile_intake [--count N] [--events all|none] [--top N]``

CPU per message is the gateway process's user + system time over the run ÷ messages; it
barely moves with machine load, unlike rates, so steer by it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

from bench.bench_e2e import e2e, gateway_config, load_for, outbox_depth_of
from bench.common import rabbit_vhost
from tests.processes import GatewayProcess
from tests.servers import PrivateRedis


def summarise(raw: Path, top: int) -> str:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            incl[frame] += n
    rows = [f"{total} samples", "", "self:"]
    rows += [f"  {c / total:6.1%}  {name}" for name, c in own.most_common(top)]
    rows += ["", "including callees (gateway code):"]
    rows += [f"  {c / total:6.1%}  {name}" for name, c in incl.most_common() if "gateway/" in name][:top]
    return "\n".join(rows)


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    module = where.split(":", 1)[0].rsplit("site-packages/", 1)[-1]
    for marker in ("/gateway/", "/lib/python3"):
        if marker in module:
            module = module[module.index(marker) + 1 :]
    return f"{name} ({module})"


def start_spy(gw: GatewayProcess, out: Path) -> subprocess.Popen[bytes] | None:
    exe = str(Path(sys.executable).with_name("py-spy"))
    if gw.proc is None or not Path(exe).exists():
        return None
    return subprocess.Popen(
        [exe, "record", "-p", str(gw.proc.pid), "-r", "250", "-f", "raw", "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(count: int, events: str, top: int, spy: bool, broker: dict[str, int]) -> None:
    with rabbit_vhost() as amqp_url:
        redis = PrivateRedis(appendfsync="everysec")
        redis.start()
        workdir = Path(tempfile.mkdtemp(prefix="gw-prof-"))
        try:
            prefix = f"p{uuid.uuid4().hex[:6]}"
            config = gateway_config(redis.url, prefix, amqp_url, events=events if events == "all" else [])
            config["broker"].update(broker)
            gw = GatewayProcess(config, workdir, "g0").start()
            try:
                await load_for("api", gw.url, 300).run()
                out = workdir / "profile.txt"
                proc = start_spy(gw, out) if spy else None
                result = await e2e("api", [gw], amqp_url, count, redis.proc.pid if redis.proc else 0, outbox_depth_of(redis, prefix))
                if proc is not None:
                    proc.send_signal(signal.SIGINT)
                    proc.wait(30)
                cpu = result["cpu_ms"]
                print(
                    f"events={events} acked/s={result['acked_rate']:.0f} offered/s={result['offered_rate']:.0f} "
                    f"confirmed/acked={result['keeps_up']:.2f} outbox growth={result['outbox_growth']:+.0f}/s "
                    f"CPU ms/msg gateway={cpu['gateways']:.3f} redis={cpu['redis']:.3f} "
                    f"rabbitmq={cpu['rabbitmq']:.3f} loadgen={cpu['loadgen']:.3f}"
                )
                if spy and out.exists():
                    print(summarise(out, top))
            finally:
                gw.stop()
        finally:
            redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--events", choices=["all", "none"], default="all")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-spy", action="store_true")
    parser.add_argument("--inflight", type=int, help="broker.inflight (default: the gateway's)")
    parser.add_argument("--outbox-limit", type=int, help="broker.outbox_limit (default: none)")
    args = parser.parse_args()
    broker = {"inflight": args.inflight} if args.inflight else {}
    if args.outbox_limit:
        broker["outbox_limit"] = args.outbox_limit
    asyncio.run(run(args.count, args.events, args.top, not args.no_spy, broker))


if __name__ == "__main__":
    main()
