"""`gateway serve`: boots on the embedded defaults, stops cleanly, refuses bad config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.servers import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


def test_serve_boots_on_embedded_defaults_and_stops_on_sigterm() -> None:
    port, smtp = free_port(), free_port()
    env = {**os.environ, "GATEWAY_HTTP_PORT": str(port), "GATEWAY_SMTP_PORT": str(smtp)}
    env.pop("GATEWAY_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                    return resp.status == 200
            except OSError:
                return False

        wait_for(ready, 30, "gateway did not become ready")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        log = proc.stderr.read().decode()
        assert '"event": "gateway started"' in log and '"event": "gateway stopped"' in log
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_with_a_bad_config_exits_with_the_key_named(tmp_path: Path) -> None:
    bad = tmp_path / "gateway.yaml"
    bad.write_text("storage:\n  url: postgres://nope\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "storage.url" in result.stderr


def test_config_path_comes_from_the_environment(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=ROOT,
        env={**os.environ, "GATEWAY_CONFIG": str(tmp_path / "missing.yaml")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "missing.yaml: no such config file" in result.stderr
