"""The console's page and the endpoints added for it: ``/console``, ``/api/v1/me``,
``/api/v1/agents/me``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import ALICE_TOKEN, BOB_TOKEN, OPS_TOKEN, auth, signed_api_body

RULES = """\
version: 1
skills: [payments, accounts]
queues:
  payments: {skills: {payments: 2}}
  accounts: {skills: {accounts: 2}}
  general: {}
agents:
  alice: {skills: {payments: 4}, capacity: 2}
  bob: {skills: {accounts: 4}}
defaults:
  targets: [{queue: general}]
rules:
  - name: payments
    when: {keywords: [付款, payment]}
    targets: [{queue: payments, priority: 6}]
  - name: accounts
    when: {keywords: [账户, account]}
    targets: [{queue: accounts}]
"""


@pytest.fixture
async def ruled(make_client: Callable[..., Awaitable[TestClient]], tmp_path: Path) -> TestClient:
    path = tmp_path / "routing.yaml"
    path.write_text(RULES, encoding="utf-8")
    return await make_client(routing={"rules": str(path)})


async def customer_writes(client: TestClient, external_id: str, text: str, user: str) -> str:
    body, headers = signed_api_body({"id": external_id, "from": {"id": user, "name": f"Name {user}"}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200
    return str((await resp.json())["conversation_id"])


async def test_the_page_and_its_files_are_served_with_a_strict_policy(client: TestClient) -> None:
    page = await client.get("/console")
    assert page.status == 200 and page.content_type == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = await page.text()
    assert "{{" not in html and 'type="module" src="/static/console/main.js?v=' in html and "console.css?v=" in html
    script = await client.get("/static/console/main.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert 'from "./session.js"' in await script.text()
    module = await client.get("/static/console/session.js")
    assert module.status == 200 and "sessionStorage" in await module.text()
    again = await client.get("/static/console/session.js", headers={"If-None-Match": module.headers["ETag"]})
    assert again.status == 304
    for name in ("nope.js", "..%2Fconsole.css", "%2E%2E%2Fconsole.html"):
        assert (await client.get(f"/static/console/{name}")).status == 404
    style = await client.get("/static/console.css")
    assert style.status == 200 and style.content_type == "text/css"


async def test_me_names_the_role_of_the_token(client: TestClient) -> None:
    assert (await client.get("/api/v1/me")).status == 401
    assert (await client.get("/api/v1/me", headers=auth("nope"))).status == 401
    ops = await (await client.get("/api/v1/me", headers=auth(OPS_TOKEN))).json()
    assert (ops["role"], ops["agent"], ops["name"]) == ("ops", None, None)
    bob = await (await client.get("/api/v1/me", headers=auth(BOB_TOKEN))).json()
    assert (bob["role"], bob["agent"], bob["name"]) == ("agent", "bob", "bob")  # no name set: the id
    assert bob["agent_names"] == {"alice": "alice", "bob": "bob"}


async def test_agents_me_is_for_agents_only(client: TestClient) -> None:
    assert (await client.get("/api/v1/agents/me")).status == 401
    forbidden = await client.get("/api/v1/agents/me", headers=auth(OPS_TOKEN))
    assert forbidden.status == 403 and (await forbidden.json())["error"]["code"] == "forbidden"


async def test_an_agent_sees_the_depth_of_the_queues_they_serve_and_what_they_hold(ruled: TestClient) -> None:
    paid = await customer_writes(ruled, "m1", "付款失败", "u1")
    await customer_writes(ruled, "m2", "payment declined", "u2")
    await customer_writes(ruled, "m3", "账户被锁", "u3")
    await customer_writes(ruled, "m4", "hello", "u4")

    alice = await (await ruled.get("/api/v1/agents/me", headers=auth(ALICE_TOKEN))).json()
    assert alice["agent"] == "alice" and alice["capacity"] == 2 and alice["active"] == 0
    assert {q["name"]: q["depth"] for q in alice["queues"]} == {"payments": 2, "general": 1}  # not accounts
    assert all(q["oldest_wait_seconds"] is not None for q in alice["queues"])
    assert sorted(alice["transfer_queues"]) == ["accounts", "general", "payments"]
    assert alice["conversations"] == [] and alice["rules_version"]
    bob = await (await ruled.get("/api/v1/agents/me", headers=auth(BOB_TOKEN))).json()
    assert {q["name"]: q["depth"] for q in bob["queues"]} == {"accounts": 1, "general": 1}

    claimed = await ruled.post("/api/v1/agents/me/next", headers=auth(ALICE_TOKEN))
    assert (await claimed.json())["id"] == paid  # the oldest of the highest priority
    alice = await (await ruled.get("/api/v1/agents/me", headers=auth(ALICE_TOKEN))).json()
    assert {q["name"]: q["depth"] for q in alice["queues"]} == {"payments": 1, "general": 1}
    [held] = alice["conversations"]
    assert held["id"] == paid and held["assignee"] == "alice" and alice["active"] == 1
    assert held["contact_name"] == "Name u1"
    assert held["last_message"]["text"] == "付款失败" and held["last_message"]["direction"] == "inbound"
    assert held["reply_tracking"]["reply_by"] is not None

    resolved = await ruled.post(f"/api/v1/conversations/{paid}/resolve", headers=auth(ALICE_TOKEN))
    assert resolved.status == 200
    alice = await (await ruled.get("/api/v1/agents/me", headers=auth(ALICE_TOKEN))).json()
    assert alice["conversations"] == [] and alice["active"] == 0
