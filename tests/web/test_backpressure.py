"""Back-pressure at the door (``broker.outbox_limit``): while the relay cannot keep up (here:
the broker is away), new webhooks are answered with a retryable 503 and ``Retry-After``,
and taken again once the outbox has drained."""

from __future__ import annotations

from typing import Any

from gateway.routing.publisher import MemoryPublisher
from tests.conftest import eventually
from tests.helpers import signed_api_body


async def post(client: Any, external_id: str, user: str) -> Any:
    body, headers = signed_api_body({"id": external_id, "from": {"id": user}, "text": "付款失败 payment failed"})
    return await client.post("/webhooks/api", data=body, headers=headers)


async def test_webhooks_get_a_retryable_503_above_the_outbox_limit_and_200_once_it_drains(
    make_client: Any, publisher: MemoryPublisher
) -> None:
    publisher.fail = True  # the broker is away: the outbox only grows
    client = await make_client(broker={"outbox_limit": 6})
    refusals = await _backlogged_count(client)
    assert (await post(client, "bp-1", "u1")).status == 200
    assert (await post(client, "bp-2", "u2")).status == 200

    refused = await post(client, "bp-3", "u3")
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert (await refused.json())["error"]["code"] == "backlogged"
    redelivered = await post(client, "bp-1", "u1")  # already stored: still acknowledged
    assert redelivered.status == 200 and (await redelivered.json())["duplicate"] is True
    assert await _backlogged_count(client) == refusals + 1

    publisher.fail = False  # the broker is back; the relay drains the outbox
    await eventually(lambda: len(publisher.queues.get("general", [])) == 2)
    retried = await eventually(lambda: _accepted(client, "bp-3", "u3"))
    assert retried["duplicate"] is False


async def _accepted(client: Any, external_id: str, user: str) -> dict[str, Any] | None:
    resp = await post(client, external_id, user)
    return await resp.json() if resp.status == 200 else None


async def _backlogged_count(client: Any) -> float:
    metrics = await (await client.get("/metrics")).text()
    prefix = 'gateway_inbound_messages_total{channel="api",outcome="backlogged"} '
    return next((float(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix)), 0.0)
