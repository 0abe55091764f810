"""Handlers as strict as the OpenAPI document says: what the schema forbids is refused, what
it allows is taken (the cases schemathesis found)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.helpers import ALICE_TOKEN, auth, gateway_config, signed_api_body

WORKFLOW = (
    "number_prefix: CP\ncategories:\n  service:\n    name: {zh: 服务, en: service}\n    kind: complaint\n"
    "    first_update_within: 1d\n    resolve_within: 15d\n    max_resolve_within: 30d\n    queue: general\n"
)


@pytest.fixture
async def client(aiohttp_client: Any, store: Store, tmp_path: Path) -> TestClient:
    (tmp_path / "cases.yaml").write_text(WORKFLOW, encoding="utf-8")
    config = gateway_config(cases={"file": str(tmp_path / "cases.yaml")})
    return await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 200),
        ("?status=open", 200),
        ("?status=", 400),  # the enum has no empty value
        ("?before=9007199254740992", 200),  # 2**53, the documented maximum
        ("?before=9007199254740993", 400),
        ("?before=%205", 400),  # int() would take " 5", "1_0" and "٥"
        ("?before=1_0", 400),
        ("?limit=%D9%A5", 400),
        ("?limit=", 400),
    ],
)
async def test_conversation_list_parameters(client: TestClient, query: str, status: int) -> None:
    resp = await client.get(f"/api/v1/conversations{query}", headers=auth())
    assert resp.status == status, await resp.text()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/cases?overdue=true", 200),
        ("/api/v1/cases?overdue=0", 200),
        ("/api/v1/cases?overdue=TRUE", 400),
        ("/api/v1/cases?overdue=", 400),
        ("/api/v1/cases?stage=", 400),
        ("/api/v1/cases?limit=+5", 400),
        ("/api/v1/cases/stats?from=2026-01-01&to=2026-01-31", 200),
        ("/api/v1/cases/stats?from=0001-01-01", 400),  # once an overflow: a 500
        ("/api/v1/cases/stats?to=9999-12-31", 400),
        ("/api/v1/cases/stats?from=9999-12-31T23:59:59%2B00:00", 400),
    ],
)
async def test_case_list_and_statistics_parameters(client: TestClient, path: str, status: int) -> None:
    resp = await client.get(path, headers=auth())
    assert resp.status == status, await resp.text()
    if status >= 400:
        assert (await resp.json())["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "reply",
    [
        {"text": "hi", "note": 0},  # true or false only
        {"attachments": [{}]},  # an attachment is a file somewhere
        {"attachments": [{"url": ""}]},
        {"text": " \n"},  # nothing to send
    ],
)
async def test_a_reply_the_schema_forbids_is_422(client: TestClient, reply: dict[str, Any]) -> None:
    payload, headers = signed_api_body({"id": "r-1", "from": {"id": "u-1"}, "text": "hello"})
    conv = (await (await client.post("/webhooks/api", data=payload, headers=headers)).json())["conversation_id"]
    resp = await client.post(f"/api/v1/conversations/{conv}/messages", json=reply, headers=auth(ALICE_TOKEN))
    assert resp.status == 422, await resp.text()


@pytest.mark.parametrize("channel", ["SMS", " sms", "fax", ""])
async def test_simulate_takes_a_channel_exactly_as_the_enum_writes_it(client: TestClient, channel: str) -> None:
    resp = await client.post("/api/v1/routing/simulate", data=json.dumps({"channel": channel}), headers=auth())
    assert resp.status == 422
    assert "unknown channel" in (await resp.json())["error"]["message"]


@pytest.mark.parametrize(
    "query",
    ["tz=Asia", "tz=" + "a" * 300, "to=9999-12-31", "from=0001-01-01", "from=9999-12-31T23:59:59%2B00:00"],
)
async def test_agent_statistics_refuse_what_cannot_be_a_period_with_400(client: TestClient, query: str) -> None:
    resp = await client.get(f"/api/v1/agents/stats?{query}", headers=auth())
    assert resp.status == 400, await resp.text()


@pytest.mark.parametrize(("start", "end"), [("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31")])
async def test_a_survey_period_out_of_range_is_400(client: TestClient, start: str, end: str) -> None:
    body = {"from": start, "to": end, "question": "How did we do?"}
    resp = await client.post("/api/v1/surveys", json=body, headers=auth())
    assert resp.status == 400, await resp.text()


async def test_wechat_verification_needs_an_echostr_to_echo(aiohttp_client: Any) -> None:
    import hashlib

    from gateway.storage import MemoryStore
    from tests.api.test_openapi import ALL_CHANNELS

    app = build_app(gateway_config(channels=ALL_CHANNELS), store=MemoryStore(), publisher=MemoryPublisher())
    client = await aiohttp_client(app)
    token = ALL_CHANNELS["wechat"]["token"]
    signature = hashlib.sha1("".join(sorted([token, "1", "n"])).encode()).hexdigest()
    query = f"/webhooks/wechat?signature={signature}&timestamp=1&nonce=n"
    assert (await client.get(query + "&echostr=abc")).status == 200
    for empty in ("&echostr=", ""):
        resp = await client.get(query + empty)
        assert resp.status == 400 and (await resp.json())["error"]["message"] == "echostr is missing"


@pytest.mark.parametrize("body", [{"routing_version": True}, {"routing_version": "1"}, {"routing_version": 1.5}])
async def test_a_claim_takes_a_whole_number_as_routing_version(client: TestClient, body: dict[str, Any]) -> None:
    payload, headers = signed_api_body({"id": "c-1", "from": {"id": "u-2"}, "text": "hello"})
    conv = (await (await client.post("/webhooks/api", data=payload, headers=headers)).json())["conversation_id"]
    resp = await client.post(f"/api/v1/conversations/{conv}/claim", json=body, headers=auth(ALICE_TOKEN))
    assert resp.status == 422, await resp.text()
