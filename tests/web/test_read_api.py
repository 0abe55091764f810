"""Bearer auth and the read API."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from gateway.wiring.services import SERVICES
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, auth, signed_api_body


async def test_api_needs_a_bearer_token(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope-nope-nope"}, {"Authorization": "Basic b3BzOm9wcw=="}):
        resp = await client.get("/api/v1/conversations", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_agents_and_ops_can_read(client: TestClient) -> None:
    for token in (ALICE_TOKEN, None):
        resp = await client.get("/api/v1/conversations", headers=auth(token) if token else auth())
        assert resp.status == 200


async def test_unknown_ids_are_404_and_bad_filters_400(client: TestClient) -> None:
    assert (await client.get("/api/v1/conversations/cv_nope", headers=auth())).status == 404
    assert (await client.get("/api/v1/contacts/ct_nope", headers=auth())).status == 404
    resp = await client.get("/api/v1/conversations?status=sleeping", headers=auth())
    assert resp.status == 400 and "status" in (await resp.json())["error"]["message"]
    assert (await client.get("/api/v1/conversations?limit=0", headers=auth())).status == 400
    assert (await client.get("/api/v1/conversations?limit=abc", headers=auth())).status == 400


async def test_list_filters_and_contact_history(client: TestClient) -> None:
    ids = {}
    for user in ("u1", "u2"):
        body, headers = signed_api_body({"id": f"m-{user}", "from": {"id": user}, "text": "help"})
        ids[user] = await (await client.post("/webhooks/api", data=body, headers=headers)).json()
    everything = await (await client.get("/api/v1/conversations?status=open&queue=general", headers=auth())).json()
    assert len(everything["conversations"]) == 2
    conv = await (await client.get(f"/api/v1/conversations/{ids['u1']['conversation_id']}", headers=auth())).json()
    contact_id = conv["contact_id"]
    mine = await (await client.get(f"/api/v1/conversations?contact_id={contact_id}", headers=auth())).json()
    assert [c["id"] for c in mine["conversations"]] == [ids["u1"]["conversation_id"]]
    contact = await (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth())).json()
    assert [c["id"] for c in contact["conversations"]] == [ids["u1"]["conversation_id"]]


async def test_health_and_readiness(client: TestClient, publisher) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["broker"] == "ok"
    publisher.fail = True
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503
    assert (await not_ready.json()) == {"status": "not_ready", "storage": "ok", "broker": "unavailable"}
    # Intake keeps working into the outbox while only the broker is down.
    body, headers = signed_api_body({"id": "during-outage", "from": {"id": "u9"}, "text": "still there?"})
    assert (await client.post("/webhooks/api", data=body, headers=headers)).status == 200
    publisher.fail = False  # the broker is back: what waited in the outbox goes out

    async def drained() -> bool:
        return (await client.app[SERVICES].store.outbox_stats()).depth == 0

    await eventually(drained)
    assert (await client.get("/readyz")).status == 200
