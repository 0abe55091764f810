"""Every number in a rules file is finite and in range — in `rules check`, on reload, on `PUT`
and in a simulated candidate — so no rules file can make intake or simulate fail later."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.app import build_app
from gateway.cli import main
from gateway.model import parse_duration
from gateway.routing.publisher import MemoryPublisher
from gateway.routing.rules import RulesError, load_rules
from gateway.storage import MemoryStore
from tests.helpers import auth, gateway_config
from tests.routing.conftest import BASE_RULES

TARGET = "{queue: complaints, priority: 9, timeout: 5m}"
BAD_TIMEOUTS = [".nan", ".NaN", ".inf", "-.inf", "1e400", "-5", "0", "99999999999d", "9" * 5000, "1e20w"]


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
def test_rules_check_refuses_a_timeout_that_is_not_a_finite_length(
    write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    path = write_rules(BASE_RULES.replace(TARGET, f"{{queue: complaints, priority: 9, timeout: {timeout}}}"))
    assert main(["rules", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "rule 'vip-complaint': target 1: bad duration" in out, out
    with pytest.raises(RulesError):
        load_rules(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 10**400, "1e400s", True, "nan", "inf"])
def test_a_duration_is_a_finite_length(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)
    assert parse_duration("100w") == 100 * 604800


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Any:
    path = tmp_path / "routing.yaml"
    path.write_text(BASE_RULES, encoding="utf-8")
    config = gateway_config(routing={"rules": str(path), "reload_interval": "1h"})
    return await aiohttp_client(build_app(config, store=MemoryStore(), publisher=MemoryPublisher()))


@pytest.mark.parametrize("timeout", [".nan", ".inf", "1e400"])
async def test_put_and_simulate_refuse_a_non_finite_timeout_with_422(client: Any, timeout: str) -> None:
    # On the first target (where a NaN once broke every matching message) and on the last.
    for old, new in ((TARGET, f"{{queue: complaints, priority: 9, timeout: {timeout}}}"),
                     ("targets: [{queue: general}]", f"targets: [{{queue: general, timeout: {timeout}}}]")):  # fmt: skip
        bad = BASE_RULES.replace(old, new)
        assert bad != BASE_RULES
        resp = await client.put("/api/v1/routing/rules", data=bad.encode(), headers=auth())
        assert resp.status == 422
        assert "bad duration" in (await resp.json())["error"]["errors"][0]
        request = {"channel": "sms", "text": "投诉", "rules": bad, "attributes": {"contact.tier": "vip"}}
        resp = await client.post("/api/v1/routing/simulate", json=request, headers=auth())
        assert resp.status == 422
        assert (await resp.json())["error"]["code"] == "invalid_rules"
    # The rules in force are unchanged and still answer.
    request = {"channel": "sms", "text": "投诉", "attributes": {"contact.tier": "vip"}}
    decision = await (await client.post("/api/v1/routing/simulate", json=request, headers=auth())).json()
    assert decision["rule"] == "vip-complaint" and decision["targets"][0]["timeout"] == 300


@pytest.mark.parametrize("zone", ["Asia", "a" * 300, "Asia/", ".."])
async def test_a_timezone_that_names_a_directory_or_nothing_is_422_not_500(client: Any, zone: str) -> None:
    bad = BASE_RULES.replace("timezone: Asia/Shanghai", f"timezone: {zone!r}")
    resp = await client.put("/api/v1/routing/rules", data=bad.encode(), headers=auth())
    assert resp.status == 422
    assert "unknown timezone" in (await resp.json())["error"]["errors"][0]
    resp = await client.post("/api/v1/routing/simulate", json={"channel": "sms", "rules": bad}, headers=auth())
    assert resp.status == 422
