"""Redis that cannot take writes (maxmemory reached, a failed snapshot, a replica cut off)
is an outage, answered 503 with Retry-After (SMTP 451) so providers retry — never a 500."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis import exceptions as rexc

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import RedisStore
from gateway.storage.connection import is_outage
from tests.helpers import gateway_config, signed_api_body
from tests.servers import PrivateRedis


@pytest.mark.parametrize(
    "error",
    [
        rexc.OutOfMemoryError("command not allowed when used memory > 'maxmemory'"),
        rexc.ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist"),
        rexc.ResponseError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
        rexc.ResponseError("NOREPLICAS Not enough good replicas to write."),
        rexc.ReadOnlyError("You can't write against a read only replica."),
        rexc.BusyLoadingError("Redis is loading the dataset in memory"),
        rexc.ConnectionError("Connection refused"),
    ],
)
def test_server_side_refusals_are_outages(error: Exception) -> None:
    assert is_outage(error)


def test_a_script_bug_is_not_an_outage() -> None:
    assert not is_outage(rexc.ResponseError("ERR user_script:12: attempt to compare nil with number"))


@pytest.mark.redis  # a private redis-server of its own: its maxmemory is changed
async def test_intake_on_a_full_redis_answers_503_with_retry_after(aiohttp_client: Any) -> None:
    server = PrivateRedis(appendfsync="no")
    server.start()
    store = RedisStore(server.url, prefix="gwt-oom")
    try:
        client = await aiohttp_client(build_app(gateway_config(), store=store, publisher=MemoryPublisher()))
        body, headers = signed_api_body({"id": "before", "from": {"id": "u1"}, "text": "hi"})
        assert (await client.post("/webhooks/api", data=body, headers=headers)).status == 200
        admin = redis.Redis(port=server.port)
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")
        body, headers = signed_api_body({"id": "during", "from": {"id": "u2"}, "text": "hi"})
        resp = await client.post("/webhooks/api", data=body, headers=headers)
        assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
        assert (await resp.json())["error"]["code"] == "storage_unavailable"
        admin.config_set("maxmemory", "0")  # room again: the provider's retry is taken
        resp = await client.post("/webhooks/api", data=body, headers=headers)
        assert resp.status == 200 and not (await resp.json())["duplicate"]
        admin.close()
    finally:
        await store.close()
        server.stop()
