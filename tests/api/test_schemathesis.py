"""Schemathesis against a real gateway with every channel on: every check, the stateful phase,
signed webhook bodies (tests/api/schemathesis_hooks.py), as ops and as an agent. Any finding
fails the test. Bounded examples and a fixed seed keep it within the suite's budget; the
nightly form (docs/api.md) is the same test with GATEWAY_FUZZ_EXAMPLES=1000.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api.test_openapi import ALL_CHANNELS
from tests.helpers import ALICE_TOKEN, OPS_TOKEN
from tests.processes import GatewayProcess, process_config
from tests.routing.conftest import BASE_RULES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("GATEWAY_FUZZ_SEED", "20261202"))
WORKFLOW = (
    "number_prefix: CP\ncategories:\n  service:\n    name: {zh: 服务, en: service}\n    kind: complaint\n"
    "    first_update_within: 1d\n    resolve_within: 15d\n    max_resolve_within: 30d\n    queue: general\n"
)

# It loads the machine (a gateway and schemathesis, both busy): the one worker of such tests.
pytestmark = [pytest.mark.xdist_group("own-servers"), pytest.mark.timeout(900 if EXAMPLES <= 50 else 8 * 3600)]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = Path(tmp_path_factory.mktemp("schemathesis"))
    (workdir / "cases.yaml").write_text(WORKFLOW, encoding="utf-8")
    (workdir / "routing.yaml").write_text(BASE_RULES, encoding="utf-8")
    config = process_config(
        storage_url="memory://",
        prefix="gw",
        broker_url="memory://",
        channels=ALL_CHANNELS,
        cases={"file": str(workdir / "cases.yaml")},
        routing={"rules": str(workdir / "routing.yaml"), "reload_interval": "1h"},
        verification={"secret": "verification-secret-for-schemathesis"},
    )
    gw = GatewayProcess(config, workdir, "schemathesis").start()
    # Something to read and work on: one conversation with a message.
    body = json.dumps(
        {"id": "seed-1", "from": {"id": "seed", "email": "seed@example.com"}, "text": "付款失败"}
    ).encode()
    sig = "sha256=" + hmac.new(ALL_CHANNELS["api"]["secret"].encode(), body, hashlib.sha256).hexdigest()
    resp = requests.post(f"{gw.url}/webhooks/api", data=body, headers={"X-Gateway-Signature": sig}, timeout=30)
    assert resp.status_code == 200, resp.text
    yield gw
    gw.stop()
    assert "Traceback" not in gw.log(), gw.log()[-5000:]


def run_schemathesis(gw: GatewayProcess, token: str, report: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
        "GATEWAY_FUZZ_SECRETS": json.dumps(ALL_CHANNELS),
        "GATEWAY_FUZZ_PUBLIC_URL": gw.url,
        "PYTHONPATH": str(ROOT),
    }
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file", str(ROOT / "tests" / "api" / "schemathesis.toml"), "--no-color",
        "run", f"{gw.url}/api/v1/openapi.json",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",
        "--header", f"Authorization: Bearer {token}",
        "--request-timeout", "30",
        "--report", "junit", "--report-junit-path", str(report),
        "--output-truncate", "false",
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=6 * 3600, check=False)


@pytest.mark.parametrize("token", [OPS_TOKEN, ALICE_TOKEN], ids=["ops", "agent"])
def test_schemathesis_finds_nothing(gateway: GatewayProcess, token: str, tmp_path: Path) -> None:
    result = run_schemathesis(gateway, token, tmp_path / "junit.xml")
    keep = os.environ.get("GATEWAY_FUZZ_REPORT_DIR")
    if keep:  # the nightly run keeps schemathesis's own report
        role = "ops" if token == OPS_TOKEN else "agent"
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"schemathesis-{role}.txt").write_text(result.stdout + result.stderr, encoding="utf-8")
    summary = result.stdout[-3000:]
    assert result.returncode == 0, result.stdout[-30000:] + result.stderr[-3000:]
    assert "No issues found" in summary or "passed" in summary, summary
