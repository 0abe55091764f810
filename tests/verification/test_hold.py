"""Rules and verification, both stores: a queue with ``requires_verification: true`` holds
an unverified customer's offer and starts verification by itself; the answer (right,
wrong until locked, or none) releases the offer once; ``verified`` is a rule condition;
simulate and explain say both."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.routing.rules import RulesError, load_rules
from gateway.storage.base import Store
from tests.channels.test_email_support import RelaySink, start_relay
from tests.channels.twilio_helpers import FakeTwilio, fake_twilio
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, BOB_TOKEN, OPS_TOKEN, auth
from tests.verification.support import CUSTOMER, Clock, call, code_from, config, conversation, say, settle, sms_bodies

ROOT = Path(__file__).resolve().parents[2]
RULES = """\
version: 1
queues:
  general: {}
  identity: {requires_verification: true}
  trusted-refunds: {}
defaults:
  targets: [{queue: general}]
rules:
  - name: account-change
    when: {keywords: [改手机号, change my phone]}
    targets: [{queue: identity, priority: 5}]
  - name: verified-refund
    when: {keywords: [退款, refund], verified: true}
    targets: [{queue: trusted-refunds}]
"""


def rules_file(tmp_path: Path, text: str = RULES) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def relay() -> AsyncIterator[RelaySink]:
    sink = await start_relay(RelaySink())
    yield sink
    sink.server.close()


@pytest.fixture
async def twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    return await fake_twilio(aiohttp_server)


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
async def gateway(
    aiohttp_client: Any,
    store: Store,
    relay: RelaySink,
    twilio: tuple[FakeTwilio, str],
    publisher: MemoryPublisher,
    tmp_path: Path,
) -> TestClient:
    cfg = config(relay, twilio[1], sections={"routing": {"rules": str(rules_file(tmp_path))}}, max_attempts=2)
    return await aiohttp_client(build_app(cfg, store=store, publisher=publisher, clock=Clock()))


def offers(publisher: MemoryPublisher, queue: str) -> list[dict[str, Any]]:
    return [json.loads(o.body) for o in publisher.queues.get(queue, [])]


async def code_sent(client: TestClient, twilio: FakeTwilio, count: int = 1) -> str:
    await settle(client)
    bodies = await eventually(lambda: sms_bodies(twilio)[count - 1 :] or None)
    return code_from(bodies[0])


async def test_the_offer_waits_for_the_right_code(
    gateway: TestClient, twilio: tuple[FakeTwilio, str], publisher: MemoryPublisher
) -> None:
    cid = (await say(gateway, "我要改手机号", phone=CUSTOMER))["conversation_id"]
    view = await conversation(gateway, cid)
    assert "verification_hold" in view["flags"] and view["routing"]["requires_verification"] is True
    assert view["routing_version"] == 0 and view["reply_by"] is not None  # held, but the promise runs
    assert view["queue"] == "identity" and view["waiting_since"] is None  # its queue decides who may read it
    assert any("requires verification: the customer is not verified" in line for line in view["routing"]["explanation"])
    code = await code_sent(gateway, twilio[0])  # started by itself, by SMS
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "pending" and offers(publisher, "identity") == []
    await say(gateway, "我要改手机号", phone=CUSTOMER)  # more words while held: no second code
    await settle(gateway)
    assert len(sms_bodies(twilio[0])) == 1

    await say(gateway, code, phone=CUSTOMER)
    [offer] = await eventually(lambda: offers(publisher, "identity") or None)
    assert offer["conversation_id"] == cid and offer["priority"] == 5 and offer["preview"] == "我要改手机号"
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "verified" and "verification_hold" not in view["flags"]
    assert view["queue"] == "identity" and view["routing_version"] == 1

    await say(gateway, "我要退款", phone=CUSTOMER, user="u-2")  # verified now: the rule's condition holds
    listing = (await call(gateway, "GET", "/api/v1/conversations?limit=10", OPS_TOKEN))[1]["conversations"]
    assert {c["queue"] for c in listing} == {"identity"}  # the same conversation: no new routing
    status, body = await call(
        gateway, "POST", "/api/v1/routing/simulate", OPS_TOKEN,
        json={"channel": "sms", "text": "我要退款", "attributes": {"verified": True}},
    )  # fmt: skip
    assert status == 200 and body["queue"] == "trusted-refunds"
    assert any("verified: true" in line for line in body["explanation"])


async def test_a_locked_code_releases_the_offer_too(
    gateway: TestClient, twilio: tuple[FakeTwilio, str], publisher: MemoryPublisher
) -> None:
    cid = (await say(gateway, "change my phone please", phone=CUSTOMER))["conversation_id"]
    code = await code_sent(gateway, twilio[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    await say(gateway, wrong, phone=CUSTOMER)
    assert offers(publisher, "identity") == []
    await say(gateway, wrong, phone=CUSTOMER)
    [offer] = await eventually(lambda: offers(publisher, "identity") or None)
    assert offer["conversation_id"] == cid
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "failed" and "verification_hold" not in view["flags"]


async def test_without_a_phone_or_mailbox_the_offer_goes_at_once(
    gateway: TestClient, publisher: MemoryPublisher
) -> None:
    cid = (await say(gateway, "我要改手机号", user="nobody"))["conversation_id"]
    await settle(gateway)
    [offer] = await eventually(lambda: offers(publisher, "identity") or None)
    assert offer["conversation_id"] == cid
    assert (await conversation(gateway, cid))["verification"]["state"] == "none"


async def test_other_queues_are_offered_as_always(gateway: TestClient, publisher: MemoryPublisher) -> None:
    cid = (await say(gateway, "你好", phone=CUSTOMER))["conversation_id"]
    [offer] = await eventually(lambda: offers(publisher, "general") or None)
    assert offer["conversation_id"] == cid


def test_simulate_and_check_say_it(tmp_path: Path) -> None:
    path = rules_file(tmp_path)

    def simulate(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway", "rules", "simulate", "--rules", str(path), "--channel", "sms", *extra],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip

    held = simulate("--text", "我要改手机号")
    assert held.returncode == 0, held.stderr
    assert "verification: required before the offer" in held.stdout
    assert "the customer is not verified, so the offer waits" in held.stdout
    verified = json.loads(simulate("--text", "我要改手机号", "--attr", "verified=true", "--json").stdout)
    assert verified["requires_verification"] is True
    assert any("the customer is verified, offered at once" in line for line in verified["explanation"])
    refund = json.loads(simulate("--text", "refund", "--json").stdout)
    assert refund["queue"] == "general"
    assert any("the customer is not verified" in line for line in refund["explanation"])
    with pytest.raises(RulesError) as caught:
        load_rules(rules_file(tmp_path, RULES.replace("requires_verification: true", "requires_verification: maybe")))
    assert any(":4: queue 'identity': requires_verification must be true or false" in e for e in caught.value.errors)
    with pytest.raises(RulesError) as caught:
        load_rules(rules_file(tmp_path, RULES.replace("verified: true", "verified: sometimes")))
    assert any("verified must be true or false" in e for e in caught.value.errors)


async def test_simulate_api_takes_verified(gateway: TestClient) -> None:
    resp = await gateway.post(
        "/api/v1/routing/simulate", json={"channel": "sms", "text": "refund", "attributes": {"verified": "maybe"}},
        headers=auth(),
    )  # fmt: skip
    assert resp.status == 422


async def test_only_agents_who_may_read_it_send_a_code(
    aiohttp_client: Any, store: Store, relay: RelaySink, twilio: tuple[FakeTwilio, str], tmp_path: Path
) -> None:
    rules = RULES.replace("queues:\n", "skills: [accounts]\nqueues:\n", 1).replace(
        "identity: {requires_verification: true}", "identity: {requires_verification: true, skills: {accounts: 1}}"
    ) + "agents:\n  alice: {skills: {}}\n  bob: {skills: {accounts: 3}}\n"
    cfg = config(relay, twilio[1], sections={"routing": {"rules": str(rules_file(tmp_path, rules))}}, resend_after="0s")
    client = await aiohttp_client(build_app(cfg, store=store, publisher=MemoryPublisher()))
    cid = (await say(client, "我要改手机号", phone=CUSTOMER))["conversation_id"]
    status, body = await call(client, "POST", f"/api/v1/conversations/{cid}/verify", ALICE_TOKEN, json={})
    assert status == 404 and body["error"]["code"] == "not_found"  # out of alice's scope: as if absent
    status, body = await call(client, "POST", f"/api/v1/conversations/{cid}/verify", BOB_TOKEN, json={})
    assert status == 202, body
