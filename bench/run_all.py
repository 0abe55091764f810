"""Every benchmark, one after the other; each appends its section to BENCHMARKS.md.

Run on a quiet machine: ``python -m bench.run_all`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import subprocess
import sys

BENCHES = [
    ["bench.bench_e2e", "--kinds", "api,twilio"],
    ["bench.bench_router"],
    ["bench.bench_timer_scan"],
    ["bench.bench_webchat"],
    ["bench.bench_webchat", "--storage", "redis://127.0.0.1:6379/0"],
]


def main() -> int:
    failed = 0
    for bench in BENCHES:
        print(f"== python -m {' '.join(bench)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", *bench], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
