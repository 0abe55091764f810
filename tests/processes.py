"""Running real gateway processes (``python -m gateway serve``) in tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import API_SECRET, TOKENS
from tests.servers import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


def process_config(*, storage_url: str, prefix: str, broker_url: str, **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "http": {"host": "127.0.0.1"},
        "smtp": {"enabled": False},
        "storage": {"url": storage_url, "key_prefix": prefix},
        "broker": {"url": broker_url},
        "routing": {"rules": None},
        "auth": {"tokens": TOKENS},
        "channels": {"api": {"secret": API_SECRET}},
        "log": {"level": "INFO"},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name] = {**config[name], **value}
        else:
            config[name] = value
    return config


class GatewayProcess:
    def __init__(self, config: dict[str, Any], workdir: Path, name: str = "gw") -> None:
        self.base_config = config
        self.workdir = workdir
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._use_port(free_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.config = {**self.base_config, "http": {**self.base_config.get("http", {}), "port": port}}
        self.config["http"]["public_url"] = f"http://127.0.0.1:{port}"
        self.path = self.workdir / f"{self.name}-{port}.yaml"
        self.path.write_text(yaml.safe_dump(self.config, allow_unicode=True))
        self.log_path = self.workdir / f"{self.name}-{port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_ready: bool = True) -> GatewayProcess:
        """Start and wait until it answers (``/readyz``, or ``/healthz`` without
        ``wait_ready``). A free port can be taken by someone else between our look and the
        gateway's bind: the first start then moves to another port (a restart keeps its port,
        since callers already hold its URL)."""
        for _ in range(3):
            self._spawn()
            try:
                wait_for(
                    lambda: self._alive_and(self.ready if wait_ready else self.healthy),
                    60,
                    f"gateway on {self.port} did not start",
                )
            except TimeoutError:
                self.kill()
                raise TimeoutError(f"gateway on {self.port} did not start; its log:\n{self.log()[-3000:]}") from None
            if self.proc is not None and self.proc.poll() is None:
                self._started_once = True
                return self
            if self._started_once or "address already in use" not in self.log().lower():
                raise RuntimeError(f"gateway on {self.port} exited at start; its log:\n{self.log()[-3000:]}")
            self._use_port(free_port())
        raise RuntimeError("gateway: no free port after three tries")

    def _spawn(self) -> None:
        log = self.log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(self.path)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()  # the child holds its own copy

    def _alive_and(self, check: Any) -> bool:
        """True once ``check`` passes while our process runs, or once it has exited (the
        caller looks at which); never on the word of another process on that port."""
        if self.proc is None or self.proc.poll() is not None:
            return True
        return bool(check()) and self.proc.poll() is None

    def _status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def healthy(self) -> bool:
        return self._status("/healthz") == 200

    def ready(self) -> bool:
        return self._status("/readyz") == 200

    def readiness_status(self) -> int:
        """The HTTP status ``/readyz`` answers (0 when nothing answers)."""
        return self._status("/readyz")

    def kill(self) -> None:
        """kill -9: no shutdown, no drain — what a crash looks like."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
