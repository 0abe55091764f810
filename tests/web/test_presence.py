"""Presence: an agent online while their console is open unless they chose away or
offline; ops see it per queue; Take next refuses an agent who stepped away; customers
waiting see nobody online when nobody is (both stores)."""

from __future__ import annotations

from typing import Any

from gateway.selfservice.presence import presence_of
from gateway.selfservice.waiting import mark_seen, online_agents
from gateway.wiring.services import SERVICES
from tests.cases.support import call, say
from tests.helpers import BOB_TOKEN, OPS_TOKEN


async def test_presence_is_chosen_seen_and_shown_to_ops(client: Any) -> None:
    store = client.app[SERVICES].store
    assert await presence_of(store, ["alice", "bob"]) == {"alice": "offline", "bob": "offline"}  # no console
    await mark_seen(store, "alice")  # her console's live socket is open
    assert await online_agents(store, ["alice", "bob"]) == {"alice"}

    status, body = await call(client, "POST", "/api/v1/agents/me/presence", json={"status": "away"})
    assert (status, body) == (200, {"agent": "alice", "chosen": "away", "status": "away"})
    assert await online_agents(store, ["alice", "bob"]) == set()
    status, me = await call(client, "GET", "/api/v1/agents/me")
    assert me["presence"] == {"status": "away", "chosen": "away"}

    await say(client, "u-1", "hello")
    status, refused = await call(client, "POST", "/api/v1/agents/me/next")
    assert status == 409 and refused["error"]["code"] == "not_online"

    status, queues = await call(client, "GET", "/api/v1/queues", OPS_TOKEN)
    assert {a["agent"]: a["status"] for a in queues["agents"]} == {"alice": "away", "bob": "offline"}
    general = next(q for q in queues["queues"] if q["name"] == "general")
    assert general["agents_online"] == []

    assert (await call(client, "POST", "/api/v1/agents/me/presence", json={"status": "online"}))[0] == 200
    status, queues = await call(client, "GET", "/api/v1/queues", OPS_TOKEN)
    general = next(q for q in queues["queues"] if q["name"] == "general")
    assert general["agents_online"] == ["alice"]
    status, taken = await call(client, "POST", "/api/v1/agents/me/next")
    assert status == 200 and taken["assignee"] == "alice"

    # Bob chose online, but his console is closed: offline to everyone.
    assert (await call(client, "POST", "/api/v1/agents/me/presence", BOB_TOKEN, json={"status": "online"}))[0] == 200
    assert (await presence_of(store, ["bob"]))["bob"] == "offline"


async def test_a_bad_status_or_caller_is_refused(client: Any) -> None:
    for body in ({"status": "busy"}, {}, {"status": "online", "extra": 1}):
        status, answer = await call(client, "POST", "/api/v1/agents/me/presence", json=body)
        assert status in (400, 422), (body, status, answer)
    status, _ = await call(client, "POST", "/api/v1/agents/me/presence", OPS_TOKEN, json={"status": "away"})
    assert status == 403
