"""Agents read only conversations of queues they can serve, assigned to them, or that they
took part in — list, search, detail, contact, attachments and the live event feed; ops
read all; ``auth.agent_read_scope: all`` opens everything to agents (DESIGN §7.3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.helpers import ALICE_TOKEN, BOB_TOKEN, OPS_TOKEN, auth, gateway_config, signed_api_body
from tests.routing.conftest import BASE_RULES
from tests.web.test_event_feed import events_until, signed_in

STOLEN = "my card was stolen 被盗刷"  # → disputes: bob serves it, alice does not


@pytest.fixture
def make(aiohttp_client: Any, store: Store, tmp_path: Path) -> Callable[..., Awaitable[TestClient]]:
    async def build(**auth_section: Any) -> TestClient:
        rules = tmp_path / "routing.yaml"
        rules.write_text(BASE_RULES, encoding="utf-8")
        sections: dict[str, Any] = {"routing": {"rules": str(rules)}}
        if auth_section:
            sections["auth"] = auth_section
        app = build_app(gateway_config(**sections), store=store, publisher=MemoryPublisher())
        return await aiohttp_client(app)

    return build


async def write(client: TestClient, user: str, text: str, **extra: Any) -> str:
    body, headers = signed_api_body({"id": f"m-{user}-{len(text)}", "from": {"id": user}, "text": text, **extra})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["conversation_id"])


async def listed(client: TestClient, token: str, **query: str) -> set[str]:
    resp = await client.get("/api/v1/conversations", params=query, headers=auth(token))
    assert resp.status == 200
    return {c["id"] for c in (await resp.json())["conversations"]}


async def status(client: TestClient, path: str, token: str) -> tuple[int, str]:
    resp = await client.get(path, headers=auth(token))
    return resp.status, ((await resp.json()).get("error") or {}).get("code", "")


async def test_an_agent_reads_only_the_queues_they_serve_or_what_is_theirs(make: Any) -> None:
    client = await make()
    attachment = {"attachments": [{"url": "https://files.example.com/a.pdf", "name": "a.pdf"}]}
    disputes = await write(client, "victim", STOLEN, **attachment)
    general = await write(client, "asker", "hello there 你好")
    detail = await (await client.get(f"/api/v1/conversations/{disputes}", headers=auth())).json()
    assert detail["queue"] == "disputes"
    contact, message = detail["contact_id"], detail["messages"][0]["id"]

    assert await listed(client, ALICE_TOKEN) == {general}
    assert await listed(client, ALICE_TOKEN, q="stolen") == set()  # search too
    assert await listed(client, BOB_TOKEN, q="stolen") == {disputes}
    assert {disputes, general} <= await listed(client, OPS_TOKEN)
    for path in (
        f"/api/v1/conversations/{disputes}",
        f"/api/v1/contacts/{contact}",
        f"/api/v1/conversations/{disputes}/messages/{message}/attachments/0",
    ):
        assert await status(client, path, ALICE_TOKEN) == (404, "not_found"), path
        assert (await status(client, path, BOB_TOKEN))[1] != "not_found", path
    assert (await status(client, f"/api/v1/conversations/{general}", ALICE_TOKEN))[0] == 200

    # Bob takes the dispute, writes, and moves it to a queue he cannot serve: he took part,
    # so he still reads it; alice reads it now that it waits in her queue.
    assert (
        await client.post(f"/api/v1/conversations/{disputes}/claim", json={}, headers=auth(BOB_TOKEN))
    ).status == 200
    note = {"text": "checked the card", "note": True}
    assert (
        await client.post(f"/api/v1/conversations/{disputes}/messages", json=note, headers=auth(BOB_TOKEN))
    ).status == 202
    moved = await client.post(
        f"/api/v1/conversations/{disputes}/transfer", json={"queue": "payments-zh"}, headers=auth(BOB_TOKEN)
    )
    assert moved.status == 200 and (await moved.json())["participants"] == ["bob"]
    assert (await status(client, f"/api/v1/conversations/{disputes}", BOB_TOKEN))[0] == 200
    assert (await status(client, f"/api/v1/conversations/{disputes}", ALICE_TOKEN))[0] == 200
    assert disputes in await listed(client, BOB_TOKEN)


async def page(client: TestClient, token: str, **query: str) -> tuple[list[str], str | None]:
    resp = await client.get("/api/v1/conversations", params=query, headers=auth(token))
    assert resp.status == 200
    data = await resp.json()
    return [c["id"] for c in data["conversations"]], data["next_cursor"]


async def test_no_cursor_tells_an_agent_what_is_out_of_their_scope(make: Any) -> None:
    """The scope is applied while the store looks: a word found only out of scope gives an
    empty page and no cursor (a cursor would say it matched, and where)."""
    client = await make()
    first = await write(client, "one", "hello refund")
    second = await write(client, "two", "hello again refund")
    await write(client, "victim", STOLEN + " refund")  # newest, and alice may not read it

    assert await page(client, ALICE_TOKEN, q="stolen", limit="1") == ([], None)
    # In scope still pages, one at a time, past the dispute that is newest.
    for query in ({"q": "refund"}, {}):
        shown, cursor = await page(client, ALICE_TOKEN, limit="1", **query)
        assert shown == [second] and cursor
        shown, cursor = await page(client, ALICE_TOKEN, limit="1", cursor=cursor, **query)
        assert shown == [first] and cursor
        assert await page(client, ALICE_TOKEN, limit="1", cursor=cursor, **query) == ([], None)
    assert (await page(client, BOB_TOKEN, q="stolen", limit="1"))[0]


async def test_the_event_feed_follows_the_same_scope(make: Any) -> None:
    client = await make()
    alice = await signed_in(client, ALICE_TOKEN)
    ops = await signed_in(client, OPS_TOKEN)
    disputes = await write(client, "victim", STOLEN)
    general = await write(client, "asker", "hello there 你好")
    seen_by_ops = await events_until(ops, lambda f: f.get("conversation_id") == general)
    assert any(f.get("conversation_id") == disputes for f in seen_by_ops)
    seen_by_alice = await events_until(alice, lambda f: f.get("conversation_id") == general)
    assert not any(f.get("conversation_id") == disputes for f in seen_by_alice)
    await alice.close()
    await ops.close()


async def test_read_scope_all_lets_every_agent_read_everything(make: Any) -> None:
    from tests.helpers import TOKENS

    client = await make(tokens=TOKENS, agent_read_scope="all")
    disputes = await write(client, "victim", STOLEN)
    assert disputes in await listed(client, ALICE_TOKEN)
    assert (await status(client, f"/api/v1/conversations/{disputes}", ALICE_TOKEN))[0] == 200
