"""`simulate`'s `at`: out-of-range times are a 422 (never an overflow), and the answer's `at`
is RFC 3339 — an offset of whole minutes, even where a zone's history has seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from tests.helpers import auth, gateway_config
from tests.routing.conftest import BASE_RULES

RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Any:
    path = tmp_path / "routing.yaml"
    path.write_text(BASE_RULES, encoding="utf-8")
    config = gateway_config(routing={"rules": str(path), "reload_interval": "1h"})
    return await aiohttp_client(build_app(config, store=MemoryStore(), publisher=MemoryPublisher()))


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59", "9999-12-31T23:59:59-14:00",
     "1900-01-01T00:00:00", "1969-12-31T23:59:59", "3000-01-01T00:00:00Z"],
)  # fmt: skip
async def test_a_time_out_of_range_is_422(client: Any, at: str) -> None:
    resp = await client.post("/api/v1/routing/simulate", json={"channel": "sms", "text": "x", "at": at}, headers=auth())
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "invalid" and "out of range" in error["message"]


@pytest.mark.parametrize(
    ("at", "rules_zone", "answered"),
    [
        ("2026-03-02T10:00:00", "Asia/Shanghai", "2026-03-02T10:00:00+08:00"),
        ("1970-01-01T00:00:00", "Africa/Monrovia", "1970-01-01T00:44:30+00:00"),  # then -0:44:30: told in UTC
        ("2026-03-02T10:00:00+05:45:30", "Asia/Shanghai", "2026-03-02T04:14:30+00:00"),
        ("2999-12-31T23:59:59-14:00", "Asia/Shanghai", "2999-12-31T23:59:59-14:00"),
        ("1970-01-01T00:00:00+14:00", "Asia/Shanghai", "1970-01-01T00:00:00+14:00"),
    ],
)
async def test_the_answered_time_is_rfc3339(client: Any, at: str, rules_zone: str, answered: str) -> None:
    rules = BASE_RULES.replace("timezone: Asia/Shanghai", f"timezone: {rules_zone}")
    request = {"channel": "sms", "text": "付款失败", "at": at, "rules": rules}
    resp = await client.post("/api/v1/routing/simulate", json=request, headers=auth())
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["at"] == answered
    import re

    assert re.match(RFC3339, body["at"])
