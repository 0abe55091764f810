"""What every benchmark shares: the machine description and writing BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "BENCHMARKS.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    """Processes whose executable is ``name`` (e.g. RabbitMQ's ``beam.smp``)."""
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False).stdout.split()
    return [int(pid) for pid in found]


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, "-m", *_module_argv()])


def _module_argv() -> list[str]:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = spec.name if spec else Path(sys.argv[0]).stem
    return [name, *sys.argv[1:]]


def append_section(title: str, body: str) -> None:
    """Append one dated section with the command that produced it and the machine it ran on."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        ""
        if RESULTS.exists()
        else "# Benchmarks\n\nNewest results last. Each section names the command that produced it.\n"
    )
    section = f"\n## {title} — {stamp}\n\nCommand: `{command_line()}`  \nMachine: {machine()}\n\n{body.strip()}\n"
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(header + section)
    print(section)


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    """A throwaway vhost on the local RabbitMQ, removed afterwards."""
    name = f"bench-{uuid.uuid4().hex[:6]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True, timeout=60)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60)


def fmt_ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.1f} ms"
