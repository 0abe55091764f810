"""Private Redis and RabbitMQ servers for tests that stop, kill or restart them.

Outage tests never touch the shared servers on 6379/5672 (other test runs use them);
they start their own on free ports, in their own directories, and remove them after.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} within {timeout}s")


class PrivateRedis:
    def __init__(self, *, appendfsync: str = "always") -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gw-redis-"))
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "/usr/bin/redis-server",
                "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
                "--save", "", "--appendonly", "yes", "--appendfsync", self.appendfsync,
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: port_open(self.port), 20, "private redis did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRabbit:
    """A second RabbitMQ node (its own name, ports and data) that tests may stop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"gwt{uuid.uuid4().hex[:6]}@localhost"
        self.base = Path(tempfile.mkdtemp(prefix="gw-rabbit-"))
        (self.base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.base / "enabled_plugins").write_text("[].\n")
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir()
        self._chown()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _chown(self) -> None:
        # rabbitmq-server switches to the rabbitmq user when started as root.
        try:
            user = pwd.getpwnam("rabbitmq")
        except KeyError:
            return
        for root, dirs, files in os.walk(self.base):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, user.pw_uid, user.pw_gid)

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["rabbitmqctl", "-n", self.node, *args], capture_output=True, timeout=timeout)

    def start(self) -> None:
        env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq"),
        )
        subprocess.run(["rabbitmq-server", "-detached"], env=env, capture_output=True, timeout=60, check=True)
        wait_for(lambda: port_open(self.port), 90, f"private rabbitmq {self.node} did not start")

    def stop_app(self) -> None:
        self._ctl("stop_app", timeout=120)
        wait_for(lambda: not port_open(self.port), 60, "rabbitmq did not stop listening")

    def start_app(self) -> None:
        self._ctl("start_app", timeout=120)
        wait_for(lambda: port_open(self.port), 90, "rabbitmq did not come back")

    def stop(self) -> None:
        self._ctl("stop", timeout=120)
        shutil.rmtree(self.base, ignore_errors=True)
