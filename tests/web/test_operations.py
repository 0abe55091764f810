"""Operations: metrics that move with traffic, shutdown that stops intake first."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from gateway.wiring.services import SERVICES
from tests.helpers import ALICE_TOKEN, auth, signed_api_body


def sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}\{{{re.escape(want)}\}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def scrape(client: TestClient) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type.startswith("text/plain")
    return await resp.text()


async def test_metrics_move_with_traffic(client: TestClient) -> None:
    before = await scrape(client)
    body, headers = signed_api_body({"id": "metrics-1", "from": {"id": "m1"}, "text": "付款失败"})
    await client.post("/webhooks/api", data=body, headers=headers)
    await client.post("/webhooks/api", data=body, headers=headers)
    await client.post("/webhooks/api", data=body, headers={"X-Gateway-Signature": "sha256=00"})
    cid = (await (await client.get("/api/v1/conversations", headers=auth())).json())["conversations"][0]["id"]
    await client.post(f"/api/v1/conversations/{cid}/claim", json={}, headers=auth(ALICE_TOKEN))
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("gateway_inbound_messages_total", channel="api", outcome="accepted") == 1
    assert delta("gateway_inbound_messages_total", channel="api", outcome="duplicate") == 1
    assert delta("gateway_inbound_messages_total", channel="api", outcome="rejected") == 1
    assert delta("gateway_ack_latency_seconds_count", channel="api") == 2
    assert delta("gateway_offers_claimed_total", how="claim") == 1
    assert delta("gateway_time_to_claim_seconds_count") == 1
    assert re.search(r'^gateway_cluster_queue_depth\{queue="general"\} 0\.0$', after, re.MULTILINE)
    assert re.search(r"^gateway_cluster_outbox_depth \d+(\.\d+)?$", after, re.MULTILINE)
    assert re.search(r"^gateway_cluster_outbox_oldest_age_seconds \S+$", after, re.MULTILINE)
    assert 'gateway_publishes_total{exchange="gateway.work",outcome="confirmed"}' in after
    # Labels stay bounded: no ids anywhere in the exposition.
    assert "cv_" not in after and "msg_" not in after and "ct_" not in after


async def test_a_stopping_gateway_refuses_new_intake_with_503(client: TestClient) -> None:
    client.app[SERVICES].stopping = True
    body, headers = signed_api_body({"id": "late-1", "from": {"id": "late"}, "text": "hello"})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == "shutting_down"
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/api/v1/conversations", headers=auth())).status == 200  # reads still work


async def test_the_document_is_served_without_a_token(client: TestClient) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200 and (await resp.json())["openapi"] == "3.1.0"
    assert (await client.get("/api/v1/queues")).status == 401 and (
        await client.get("/api/v1/queues", headers=auth())
    ).status == 200


async def test_only_the_configured_events_are_published(make_client, publisher) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import eventually

    client = await make_client(broker={"events": ["conversation.*", "sla.breached"]})
    body, headers = signed_api_body({"id": "ev-1", "from": {"id": "ev"}, "text": "hello"})
    assert (await client.post("/webhooks/api", data=body, headers=headers)).status == 200
    await eventually(lambda: publisher.queues.get("general"))  # offers always go out
    await eventually(lambda: any(e.routing_key == "conversation.opened" for e in publisher.events))
    stats = client.app[SERVICES].store
    await eventually(lambda: _drained(stats))
    assert {e.routing_key for e in publisher.events} == {"conversation.opened"}  # no message.inbound


async def _drained(store) -> bool:  # type: ignore[no-untyped-def]
    return (await store.outbox_stats()).depth == 0
