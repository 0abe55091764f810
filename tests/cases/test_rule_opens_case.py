"""A routing rule that opens a case by itself (``open_case: <category>``): the customer
gets the number without an agent; simulate and explain show it; the rules file and the
start-up check refuse what cannot work. Both stores where storage is involved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.config import ConfigError
from gateway.routing.publisher import MemoryPublisher
from gateway.routing.rules import RulesError, load_rules
from gateway.storage.base import Store
from tests.cases.support import WORKFLOW, call, case_of, say, write_workflow
from tests.conftest import eventually
from tests.helpers import API_SECRET, OPS_TOKEN, gateway_config
from tests.web.fakes import FakeCallback, start_crm

ROOT = Path(__file__).resolve().parents[2]
RULES = """\
version: 1
queues:
  general: {}
defaults:
  targets: [{queue: general}]
rules:
  - name: double-charge
    when: {keywords: [重复扣款, charged twice]}
    targets: [{queue: general, priority: 6}]
    open_case: double_charge
"""


def rules_file(tmp_path: Path, text: str = RULES) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


async def test_a_matching_message_opens_a_case_and_the_customer_gets_its_number(
    aiohttp_client: Any, store: Store, crm: tuple[FakeCallback, str], tmp_path: Path
) -> None:
    config = gateway_config(
        routing={"rules": str(rules_file(tmp_path))},
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        reply_tracking={"scan_interval": "0.05s"},
        cases={"file": str(write_workflow(tmp_path))},
    )
    client: TestClient = await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))
    cid = (await say(client, "auto", "我被重复扣款了，订单 88"))["conversation_id"]
    text = (await eventually(lambda: crm[0].received, timeout=15))[0][1]
    told = json.loads(text)["text"]
    conv = (await call(client, "GET", f"/api/v1/conversations/{cid}", OPS_TOKEN))[1]
    number = conv["attributes"]["case"]
    assert number in told and "受理" in told
    case = await case_of(client, number, OPS_TOKEN)
    assert case["created_by"] == "rule:double-charge" and case["summary"] == "我被重复扣款了，订单 88"
    assert conv["routing"]["open_case"] == "double_charge" and conv["queue"] == "general"
    await say(client, "auto", "又重复扣款了一次")  # the same conversation: no second case
    await eventually(lambda: len(crm[0].received) >= 1)
    listed = (await call(client, "GET", "/api/v1/cases", OPS_TOKEN))[1]["cases"]
    assert [c["number"] for c in listed] == [number]


def test_simulate_shows_the_case_the_rule_opens(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "rules", "simulate", "--rules", str(rules_file(tmp_path)),
         "--channel", "sms", "--text", "I was charged twice", "--json"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    decision = json.loads(run.stdout)
    assert decision["open_case"] == "double_charge"
    assert any("opens a case: double_charge" in line for line in decision["explanation"])
    plain = subprocess.run(
        [sys.executable, "-m", "gateway", "rules", "simulate", "--rules", str(rules_file(tmp_path)),
         "--channel", "sms", "--text", "hello"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert "open_case" not in plain.stdout


def test_the_rules_file_and_start_up_refuse_what_cannot_work(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(rules_file(tmp_path, RULES.replace("open_case: double_charge", "open_case: Double Charge")))
    assert any(":10: rule 'double-charge': open_case must be a case category id" in e for e in caught.value.errors)
    path = rules_file(tmp_path)
    with pytest.raises(ConfigError, match=r"routing\.yaml:7: rule 'double-charge' opens cases, but cases\.file"):
        build_app(gateway_config(routing={"rules": str(path)}))
    other = write_workflow(tmp_path, WORKFLOW.replace("double_charge", "charge"))
    with pytest.raises(ConfigError, match="no case category 'double_charge'"):
        build_app(gateway_config(routing={"rules": str(path)}, cases={"file": str(other)}))
