"""``GET /api/v1/conversations`` as the agent's inbox and search (DESIGN §7.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.cases.support import call, open_case, say, write_workflow
from tests.helpers import ALICE_TOKEN, API_SECRET, OPS_TOKEN


async def _ids(client: TestClient, query: str, token: str = ALICE_TOKEN) -> list[str]:
    status, body = await call(client, "GET", f"/api/v1/conversations?{query}", token)
    assert status == 200, body
    return [c["id"] for c in body["conversations"]]


async def test_search_finds_messages_names_replies_and_case_numbers(make_client: Any, tmp_path: Path) -> None:
    client = await make_client(
        cases={"file": str(write_workflow(tmp_path))},
        channels={"api": {"secret": API_SECRET, "callback_url": "http://127.0.0.1:9/never-reached"}},
    )
    card = (await say(client, "u-card", "付款失败，扣了两次钱", name="周杰"))["conversation_id"]
    parcel = (await say(client, "u-parcel", "Where is my parcel?", email="dora@example.com"))["conversation_id"]
    assert await _ids(client, "q=付款失败") == [card]
    assert await _ids(client, "q=周杰") == [card]
    assert await _ids(client, "q=dora%40example.com") == [parcel]
    assert await _ids(client, "q=PARCEL") == [parcel]
    reply = {"text": "A courier voucher follows"}
    status, _ = await call(client, "POST", f"/api/v1/conversations/{parcel}/messages", json=reply)
    assert status == 202
    assert await _ids(client, "q=voucher") == [parcel]
    case = await open_case(client, card)
    assert await _ids(client, f"q={case['number']}") == [card]
    assert await _ids(client, f"q={case['number'].lower()}", OPS_TOKEN) == [card]


async def test_filters_and_cursor_pages(client: TestClient) -> None:
    made = [(await say(client, f"u{i}", f"refund please {i}"))["conversation_id"] for i in range(5)]
    status, _ = await call(client, "POST", f"/api/v1/conversations/{made[0]}/claim", json={})
    assert status == 200
    assert await _ids(client, "assignee=me") == [made[0]]
    assert await _ids(client, "assignee=alice&q=refund") == [made[0]]
    assert sorted(await _ids(client, "assignee=-&status=open")) == sorted(made[1:])
    assert await _ids(client, "channel=email") == []
    seen: list[str] = []
    cursor = ""
    while True:
        status, body = await call(client, "GET", f"/api/v1/conversations?q=refund&limit=2{cursor}")
        seen += [c["id"] for c in body["conversations"]]
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert sorted(seen) == sorted(made)


async def test_bad_parameters_are_400(client: TestClient) -> None:
    for query in ("channel=pigeon", "sla=late", "cursor=xyz", "q=" + "x" * 201, "status=gone"):
        status, body = await call(client, "GET", f"/api/v1/conversations?{query}")
        assert status == 400 and body["error"]["code"] == "bad_request", (query, body)
    status, body = await call(client, "GET", "/api/v1/conversations?assignee=me", OPS_TOKEN)
    assert status == 400


def test_the_reindex_command_runs_on_the_configured_store(tmp_path: Path, capsys: Any) -> None:
    from gateway.cli import main

    config = tmp_path / "gateway.yaml"
    config.write_text("routing: {rules: null}\nstorage: {url: 'memory://'}\n", encoding="utf-8")
    assert main(["search", "reindex", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "indexed 0 conversations for search"
