"""What an agent may not read they may not act on either: every agent action on a
conversation, a contact or a case out of their read scope answers as for an id that does
not exist (404, word for word), and changes nothing; ops are unchanged (docs/security.md,
"Every route an agent reaches")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.cases.support import WORKFLOW, call, write_workflow
from tests.helpers import ALICE_TOKEN, BOB_TOKEN, OPS_TOKEN, TOKENS, gateway_config
from tests.routing.conftest import BASE_RULES
from tests.web.test_read_scope import STOLEN, write

# (path under the conversation, body): every agent action on a conversation.
CONVERSATION_ACTIONS = [
    ("claim", {}),
    ("messages", {"text": "hello from alice"}),
    ("messages", {"text": "a note", "note": True}),
    ("transfer", {"queue": "payments-zh"}),
    ("resolve", {}),
    ("pending", {}),
    ("typing", {}),
]
CASE_ACTIONS = [
    ("GET", "", None),
    ("POST", "/progress", {"note": "looking into it"}),
    ("POST", "/extend", {"until": "2099-01-01", "reason": "bank"}),
    ("POST", "/parties", {"kind": "merchant", "name": "Shop", "email": "m@shop.example"}),
    ("POST", "/resolve", {"resolution": "refunded"}),
]


@pytest.fixture
def make(aiohttp_client: Any, store: Store, tmp_path: Path) -> Callable[..., Awaitable[TestClient]]:
    async def build(**auth_section: Any) -> TestClient:
        rules = tmp_path / "routing.yaml"
        rules.write_text(BASE_RULES, encoding="utf-8")
        workflow = write_workflow(tmp_path, WORKFLOW.replace("queue: general", "queue: disputes"))
        sections: dict[str, Any] = {"routing": {"rules": str(rules)}, "cases": {"file": str(workflow)}}
        if auth_section:
            sections["auth"] = {"tokens": TOKENS, **auth_section}
        app = build_app(gateway_config(**sections), store=store, publisher=MemoryPublisher())
        return await aiohttp_client(app)

    return build


async def answer(client: TestClient, method: str, path: str, token: str, body: Any) -> tuple[int, Any]:
    return await call(client, method, path, token, **({} if body is None else {"json": body}))


async def test_every_conversation_action_out_of_scope_answers_as_absent(make: Any) -> None:
    client = await make()
    disputes = await write(client, "victim", STOLEN)  # alice cannot serve disputes
    status, before = await call(client, "GET", f"/api/v1/conversations/{disputes}", OPS_TOKEN)
    assert status == 200 and before["queue"] == "disputes"
    for action, body in CONVERSATION_ACTIONS:
        absent = await answer(client, "POST", f"/api/v1/conversations/cv_nope/{action}", ALICE_TOKEN, body)
        assert absent[0] == 404, action
        assert await answer(client, "POST", f"/api/v1/conversations/{disputes}/{action}", ALICE_TOKEN, body) == absent
    status, after = await call(client, "GET", f"/api/v1/conversations/{disputes}", OPS_TOKEN)
    assert len(after["messages"]) == len(before["messages"])  # no reply, no note
    for field in ("queue", "status", "assignee", "routing_version", "participants"):
        assert after[field] == before[field], field
    # Bob serves disputes: the same calls reach him (a note, then typing; he claims it).
    note = {"text": "checking", "note": True}
    assert (await call(client, "POST", f"/api/v1/conversations/{disputes}/messages", BOB_TOKEN, json=note))[0] == 202
    assert (await call(client, "POST", f"/api/v1/conversations/{disputes}/typing", BOB_TOKEN, json={}))[0] == 200
    assert (await call(client, "POST", f"/api/v1/conversations/{disputes}/claim", BOB_TOKEN, json={}))[0] == 200
    # Ops are unchanged: they transfer anything.
    moved = await call(client, "POST", f"/api/v1/conversations/{disputes}/transfer", OPS_TOKEN, json={"queue": "general"})
    assert moved[0] == 200


async def test_contact_merge_needs_both_contacts_in_scope(make: Any) -> None:
    client = await make()
    disputes = await write(client, "victim", STOLEN)
    general = await write(client, "asker", "hello there 你好")
    hidden = (await call(client, "GET", f"/api/v1/conversations/{disputes}", OPS_TOKEN))[1]["contact_id"]
    seen = (await call(client, "GET", f"/api/v1/conversations/{general}", ALICE_TOKEN))[1]["contact_id"]
    absent = await call(client, "POST", f"/api/v1/contacts/{seen}/merge", ALICE_TOKEN, json={"other": "ct_nope"})
    assert absent[0] == 404
    # Either side out of alice's scope: as if it did not exist, and nothing merged.
    assert await call(client, "POST", f"/api/v1/contacts/{seen}/merge", ALICE_TOKEN, json={"other": hidden}) == absent
    assert await call(client, "POST", f"/api/v1/contacts/{hidden}/merge", ALICE_TOKEN, json={"other": seen}) == absent
    for contact in (hidden, seen):
        assert (await call(client, "GET", f"/api/v1/contacts/{contact}", OPS_TOKEN))[1]["merged_into"] is None
    # Bob reads both (disputes, and general is anyone's to serve): he merges.
    status, merged = await call(client, "POST", f"/api/v1/contacts/{seen}/merge", BOB_TOKEN, json={"other": hidden})
    assert status == 200 and merged["id"] == seen


async def test_cases_of_conversations_out_of_scope_answer_as_absent(make: Any) -> None:
    client = await make()
    disputes = await write(client, "victim", STOLEN)
    opening = {"conversation_id": disputes, "category": "double_charge", "summary": "charged twice"}
    status, case = await call(client, "POST", "/api/v1/cases", OPS_TOKEN, json=opening)
    assert status == 201, case
    number = case["number"]
    for method, tail, body in CASE_ACTIONS:
        absent = await answer(client, method, f"/api/v1/cases/CP-20200101-0001{tail}", ALICE_TOKEN, body)
        assert absent[0] == 404, tail
        assert await answer(client, method, f"/api/v1/cases/{number}{tail}", ALICE_TOKEN, body) == absent, tail
    assert (await call(client, "GET", "/api/v1/cases", ALICE_TOKEN))[1]["cases"] == []
    nope = await call(client, "POST", "/api/v1/cases", ALICE_TOKEN, json={**opening, "conversation_id": "cv_nope"})
    assert nope[0] == 404
    assert await call(client, "POST", "/api/v1/cases", ALICE_TOKEN, json=opening) == nope
    status, unchanged = await call(client, "GET", f"/api/v1/cases/{number}", OPS_TOKEN)
    assert unchanged["stage"] == case["stage"] and unchanged["parties"] == case["parties"]
    assert not [e for e in unchanged["timeline"] if e.get("by") == "alice"]
    assert (await call(client, "GET", f"/api/v1/cases/{number}", BOB_TOKEN))[0] == 200


async def test_a_case_without_its_conversation_is_for_ops_and_its_own_agents_only(make: Any, store: Store) -> None:
    client = await make()
    general = await write(client, "asker", "hello there 你好")  # anyone's queue
    opening = {"conversation_id": general, "category": "double_charge", "summary": "charged twice"}
    number = (await call(client, "POST", "/api/v1/cases", OPS_TOKEN, json=opening))[1]["number"]
    progress = {"note": "looking into it"}
    assert (await call(client, "POST", f"/api/v1/cases/{number}/progress", BOB_TOKEN, json=progress))[0] == 200
    assert (await call(client, "GET", f"/api/v1/cases/{number}", ALICE_TOKEN))[0] == 200
    await store._redis.delete(store.cv(general))  # type: ignore[attr-defined]  # the conversation is gone
    assert (await call(client, "GET", f"/api/v1/cases/{number}", ALICE_TOKEN))[0] == 404  # nothing to judge by
    assert (await call(client, "GET", f"/api/v1/cases/{number}", BOB_TOKEN))[0] == 200  # a step of his own
    assert (await call(client, "GET", f"/api/v1/cases/{number}", OPS_TOKEN))[0] == 200


async def test_read_scope_all_opens_actions_to_the_skills_rule(make: Any) -> None:
    client = await make(agent_read_scope="all")
    disputes = await write(client, "victim", STOLEN)
    opening = {"conversation_id": disputes, "category": "double_charge", "summary": "charged twice"}
    status, case = await call(client, "POST", "/api/v1/cases", ALICE_TOKEN, json=opening)
    assert status == 201, case
    assert (await call(client, "GET", f"/api/v1/cases/{case['number']}", ALICE_TOKEN))[0] == 200
    # Readable now, acting still needs the queue's skills: 403, no longer 404.
    status, body = await call(client, "POST", f"/api/v1/conversations/{disputes}/claim", ALICE_TOKEN, json={})
    assert (status, body["error"]["code"]) == (403, "not_qualified")
    assert (await call(client, "POST", f"/api/v1/conversations/{disputes}/typing", ALICE_TOKEN, json={}))[0] == 200
