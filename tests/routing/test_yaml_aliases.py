"""A few hundred bytes of YAML aliases ("billion laughs") are refused past a small
expansion budget — in PUT rules and in simulate — instead of costing seconds and 100 MB;
a real file's anchors (a business-hours list repeated per weekday) still read."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from gateway.cli import main
from gateway.routing.rules import rules_version
from gateway.routing.rules.yaml_lines import ALIAS_BUDGET, YamlProblem, parse
from tests.helpers import auth
from tests.routing.conftest import BASE_RULES
from tests.routing.test_routing_api import client, publisher, rules_path  # noqa: F401  (fixtures)


def bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_the_bomb_is_small_and_refused_at_once() -> None:
    text = bomb()
    assert len(text.encode()) < 500  # 9^9 = 387 million values if expanded
    with pytest.raises(YamlProblem, match="aliases expand to more than"):
        parse(text)


def test_anchors_within_the_budget_still_read() -> None:
    located = parse(bomb(levels=3))  # 9^3 = 729 values
    assert located is not None
    assert parse(BASE_RULES) is not None  # the weekday hours are an anchor and aliases
    assert ALIAS_BUDGET >= 1000


def test_rules_check_refuses_the_bomb_with_path_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(bomb(), encoding="utf-8")
    assert main(["rules", "check", str(path)]) == 1
    assert "aliases expand to more than" in capsys.readouterr().out


async def test_put_and_simulate_refuse_the_bomb_with_422(client: TestClient, rules_path: Path) -> None:  # noqa: F811
    resp = await client.put("/api/v1/routing/rules", data=bomb().encode(), headers=auth())
    assert resp.status == 422
    assert "aliases expand" in (await resp.json())["error"]["errors"][0]
    current = await (await client.get("/api/v1/routing/rules", headers=auth())).json()
    assert current["version"] == rules_version(BASE_RULES)
    request = {"channel": "sms", "text": "hi", "rules": bomb()}
    resp = await client.post("/api/v1/routing/simulate", json=request, headers=auth())
    assert resp.status == 422
    assert "aliases expand" in (await resp.json())["error"]["errors"][0]
