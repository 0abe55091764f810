"""Every benchmark, one after the other; each appends its section to BENCHMARKS.md.

Run on a quiet machine: ``python -m bench.run_all`` (about a quarter of an hour on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

# The CPU-bound router bench first; every bench waits for the one before it to settle
# (RabbitMQ and Redis keep working for a while after an intake run).
BENCHES = [
    ["bench.bench_router"],
    ["bench.bench_e2e"],  # add "--kinds", "api,twilio" for the Twilio rows (twice as long)
    ["bench.bench_timer_scan"],
    ["bench.bench_search"],
    ["bench.bench_webchat"],
    ["bench.bench_webchat", "--storage", "redis://127.0.0.1:6379/0"],
]


QUIET_LOAD = 0.5  # one-minute load average per core below which the machine counts as settled
SETTLE_LIMIT_SECONDS = 240


def wait_until_quiet() -> None:
    """Until the load average says the previous bench's servers are done, at most 4 minutes."""
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
    while os.getloadavg()[0] / cores > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)
    print(f"== load average {os.getloadavg()[0]:.2f} on {cores} cores", flush=True)


def main() -> int:
    failed = 0
    for bench in BENCHES:
        wait_until_quiet()
        print(f"== python -m {' '.join(bench)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", *bench], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
