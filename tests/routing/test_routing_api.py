"""`/api/v1/routing/*`: read the rules, swap them live (or refuse with 422), simulate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.cli import main
from gateway.config import ConfigError
from gateway.routing.publisher import MemoryPublisher
from gateway.routing.rules import rules_version
from gateway.storage import MemoryStore
from tests.helpers import ALICE_TOKEN, auth, gateway_config, signed_api_body
from tests.routing.conftest import BASE_RULES

NEW_QUEUE_RULES = BASE_RULES.replace(
    "  general: {}\n",
    "  general: {}\n  fraud: {skills: {disputes: 4}}\n",  # nobody has disputes 4: a warning
).replace(
    "rules:\n",
    "rules:\n  - name: fraud\n    when: {keywords: [盗刷, fraud]}\n    targets: [{queue: fraud, priority: 9}]\n",
)


def on_disk(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(BASE_RULES, encoding="utf-8")
    return path


@pytest.fixture
async def client(aiohttp_client: Any, rules_path: Path, publisher: MemoryPublisher) -> TestClient:
    config = gateway_config(routing={"rules": str(rules_path), "reload_interval": "1h"})
    store = MemoryStore()
    return await aiohttp_client(build_app(config, store=store, publisher=publisher))


async def test_ops_reads_the_rules_in_force(client: TestClient, rules_path: Path) -> None:
    resp = await client.get("/api/v1/routing/rules", headers=auth())
    assert resp.status == 200
    body = await resp.json()
    assert body["yaml"] == BASE_RULES
    assert body["version"] == rules_version(BASE_RULES)
    assert body["path"] == str(rules_path)
    assert body["loaded_by"] == "start-up" and body["loaded_at"].endswith("+00:00")
    assert body["rules"] == 10 and "after-hours" in body["queues"]
    assert body["warnings"] == []
    raw = await client.get("/api/v1/routing/rules", headers={**auth(), "Accept": "application/yaml"})
    assert raw.status == 200 and raw.content_type == "application/yaml"
    assert await raw.text() == BASE_RULES and raw.headers["X-Rules-Version"] == body["version"]


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/api/v1/routing/rules", None),
        ("PUT", "/api/v1/routing/rules", NEW_QUEUE_RULES),
        ("POST", "/api/v1/routing/simulate", json.dumps({"channel": "sms", "text": "付款"})),
    ],
)
async def test_agents_get_403_and_strangers_401(
    client: TestClient, rules_path: Path, method: str, path: str, data: str | None
) -> None:
    resp = await client.request(method, path, data=data, headers=auth(ALICE_TOKEN))
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
    assert (await client.request(method, path, data=data)).status == 401
    assert on_disk(rules_path) == BASE_RULES


async def test_put_invalid_rules_is_422_and_the_old_rules_stay(client: TestClient, rules_path: Path) -> None:
    bad = BASE_RULES.replace("{queue: disputes, priority: 8}", "{queue: dispute, priority: 8}").replace(
        "keywords: [付款, 扣款, 支付]", "keyword: [付款, 扣款, 支付]"
    )
    resp = await client.put("/api/v1/routing/rules", data=bad.encode(), headers=auth())
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_rules"
    assert error["message"] == "the rules have 2 errors; the rules in force are unchanged"
    assert error["errors"] == [
        f"{rules_path}:38: rule 'stolen-card': target 1: unknown queue 'dispute' "
        "(queues: payments-zh, payments-en, accounts, complaints, disputes, after-hours, general)",
        f"{rules_path}:69: rule 'payments-zh': unknown condition key 'keyword' (known: channel, language, keywords, "
        "all_keywords, regex, subject_keywords, business_hours, new_contact, verified, contact.<attribute>, attribute.<name>)",
    ]
    assert on_disk(rules_path) == BASE_RULES
    current = await (await client.get("/api/v1/routing/rules", headers=auth())).json()
    assert current["version"] == rules_version(BASE_RULES)
    for junk in (b"", b"\xff\xfe not utf-8", b"rules: [unclosed"):
        resp = await client.put("/api/v1/routing/rules", data=junk, headers=auth())
        assert resp.status == 422, junk
        assert (await resp.json())["error"]["errors"][0].startswith(f"{rules_path}:1: ")


async def test_put_valid_rules_swaps_them_and_new_messages_use_them(
    client: TestClient, rules_path: Path, publisher: MemoryPublisher
) -> None:
    assert "fraud" not in publisher.queues
    resp = await client.put("/api/v1/routing/rules", data=NEW_QUEUE_RULES.encode(), headers=auth())
    assert resp.status == 200
    body = await resp.json()
    new_version = rules_version(NEW_QUEUE_RULES)
    assert (body["changed"], body["version"], body["loaded_by"]) == (True, new_version, "api")
    assert body["warnings"] == [
        f"{rules_path}:22: warning: queue 'fraud': no agent has the skills it needs (disputes ≥ 4)"
    ]
    assert on_disk(rules_path) == NEW_QUEUE_RULES
    assert not list(rules_path.parent.glob(".routing.yaml.*"))  # no temporary file left behind
    assert "fraud" in publisher.queues  # the new queue was declared before the swap

    payload, headers = signed_api_body({"id": "m-fraud-1", "from": {"id": "u-1"}, "text": "有人盗刷我的卡"})
    accepted = await (await client.post("/webhooks/api", data=payload, headers=headers)).json()
    conv = await (await client.get(f"/api/v1/conversations/{accepted['conversation_id']}", headers=auth())).json()
    assert conv["routing"]["rules_version"] == new_version
    assert (conv["routing"]["rule"], conv["queue"], conv["priority"]) == ("fraud", "fraud", 9)

    again = await client.put("/api/v1/routing/rules", data=NEW_QUEUE_RULES.encode(), headers=auth())
    assert (await again.json())["changed"] is False


async def test_put_with_a_stale_if_match_is_412(client: TestClient, rules_path: Path) -> None:
    resp = await client.put(
        "/api/v1/routing/rules", data=NEW_QUEUE_RULES.encode(), headers={**auth(), "If-Match": '"0123456789ab"'}
    )
    assert resp.status == 412 and (await resp.json())["error"]["code"] == "version_mismatch"
    assert on_disk(rules_path) == BASE_RULES
    ok = await client.put(
        "/api/v1/routing/rules",
        data=NEW_QUEUE_RULES.encode(),
        headers={**auth(), "If-Match": rules_version(BASE_RULES)},
    )
    assert ok.status == 200


async def test_simulate_answers_the_same_json_as_the_cli(
    client: TestClient, rules_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = {
        "channel": "sms",
        "text": "我要投诉，付款失败",
        "subject": None,
        "attributes": {"contact.tier": "vip", "new_contact": True},
        "at": "2026-03-02T10:00:00",
    }
    resp = await client.post("/api/v1/routing/simulate", json=request, headers=auth())
    assert resp.status == 200
    over_http = await resp.json()
    assert main(
        ["rules", "simulate", "--rules", str(rules_path), "--channel", "sms", "--text", "我要投诉，付款失败",
         "--attr", "contact.tier=vip", "--attr", "new_contact=true", "--at", "2026-03-02T10:00:00", "--json"]
    ) == 0  # fmt: skip
    assert over_http == json.loads(capsys.readouterr().out)
    assert over_http["rule"] == "vip-complaint" and over_http["at"] == "2026-03-02T10:00:00+08:00"


async def test_simulate_a_candidate_rules_file_before_putting_it(client: TestClient) -> None:
    request = {"channel": "sms", "text": "有人盗刷", "at": "2026-03-02T10:00:00", "rules": NEW_QUEUE_RULES}
    candidate = await (await client.post("/api/v1/routing/simulate", json=request, headers=auth())).json()
    assert (candidate["rule"], candidate["rules_version"]) == ("fraud", rules_version(NEW_QUEUE_RULES))
    del request["rules"]
    current = await (await client.post("/api/v1/routing/simulate", json=request, headers=auth())).json()
    assert (current["rule"], current["rules_version"]) == (None, rules_version(BASE_RULES))
    bad = {**request, "rules": "version: 1\nqueues: {}\n"}
    resp = await client.post("/api/v1/routing/simulate", json=bad, headers=auth())
    assert resp.status == 422
    assert (await resp.json())["error"]["errors"] == [
        "rules:1: `defaults:` is missing: it says where conversations no rule matches go",
        "rules:2: queues: name at least one queue",
    ]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"not json", 400, "not valid JSON"),
        (b"[]", 422, ""),
        (json.dumps({"text": "x"}).encode(), 422, ""),
        (json.dumps({"channel": "fax", "text": "x"}).encode(), 422, "unknown channel 'fax'"),
        (json.dumps({"channel": "sms", "text": 5}).encode(), 422, ""),
        (json.dumps({"channel": "sms", "text": "x", "bogus": 1}).encode(), 422, ""),
        (json.dumps({"channel": "sms", "text": "x", "attributes": {"tier": "vip"}}).encode(), 422, "unknown attribute"),
        (json.dumps({"channel": "sms", "attributes": {"new_contact": "perhaps"}}).encode(), 422, "not true or false"),
        (json.dumps({"channel": "sms", "text": "x", "at": "tomorrow"}).encode(), 422, "ISO-8601"),
    ],
)
async def test_simulate_bad_input_is_a_4xx_with_a_reason(
    client: TestClient, body: bytes, status: int, needle: str
) -> None:
    resp = await client.post("/api/v1/routing/simulate", data=body, headers=auth())
    assert resp.status == status
    assert needle in (await resp.json())["error"]["message"]


async def test_simulate_survives_odd_attribute_values(client: TestClient) -> None:
    odd = {"contact.tier": {"nested": True}, "contact.tags": [["x"], {"y": 1}, 3, None], "attribute.menu": [2]}
    resp = await client.post(
        "/api/v1/routing/simulate", json={"channel": "voice", "text": "", "attributes": odd}, headers=auth()
    )
    assert resp.status == 200
    assert (await resp.json())["rule"] in (None, "after-hours", "phone-menu-accounts")


async def test_without_a_rules_file_the_static_router_answers(aiohttp_client: Any) -> None:
    client = await aiohttp_client(build_app(gateway_config(), store=MemoryStore(), publisher=MemoryPublisher()))
    body = await (await client.get("/api/v1/routing/rules", headers=auth())).json()
    assert (body["version"], body["yaml"], body["queues"]) == ("static", None, ["general"])
    resp = await client.put("/api/v1/routing/rules", data=BASE_RULES.encode(), headers=auth())
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "no_rules_file"
    sim = await (
        await client.post("/api/v1/routing/simulate", json={"channel": "sms", "text": "x"}, headers=auth())
    ).json()
    assert (sim["queue"], sim["rules_version"]) == ("general", "static")


@pytest.mark.parametrize(
    ("write", "needle"),
    [
        (lambda p: None, "routing.yaml:1: no such rules file"),
        (lambda p: p.write_text("version: 1\nqueues: {general: {}}\n"), "routing.yaml:1: `defaults:` is missing"),
    ],
)
def test_start_up_refuses_missing_or_invalid_rules(tmp_path: Path, write: Callable[[Path], Any], needle: str) -> None:
    path = tmp_path / "routing.yaml"
    write(path)
    with pytest.raises(ConfigError) as caught:
        build_app(gateway_config(routing={"rules": str(path)}), store=MemoryStore(), publisher=MemoryPublisher())
    assert str(caught.value).startswith("routing.rules: the rules file cannot be used:\n")
    assert needle in str(caught.value)
