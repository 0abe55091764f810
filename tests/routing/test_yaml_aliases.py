"""A few hundred bytes of YAML aliases ("billion laughs") are refused past a small
expansion budget — in PUT rules and in simulate, and in every other YAML the gateway reads
(gateway.yaml, the FAQ, the knowledge file: one reader) — instead of costing seconds and
100 MB; a real file's anchors (a business-hours list repeated per weekday) still read."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from gateway.cli import main
from gateway.config import ConfigError, load_config
from gateway.routing.rules import rules_version
from gateway.routing.rules.yaml_lines import ALIAS_BUDGET, YamlProblem, compose, load, parse
from gateway.selfservice.faq_book import FaqError, load_faq
from gateway.selfservice.knowledge import KnowledgeError, load_knowledge
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


def test_every_reader_spends_the_same_budget() -> None:
    for read in (compose, parse, load):
        with pytest.raises(YamlProblem, match="aliases expand to more than"):
            read(bomb())
    assert load(bomb(levels=3))["l2"][0][0] == ["lol"] * 9


def test_gateway_yaml_faq_and_knowledge_refuse_the_bomb_with_path_and_line(tmp_path: Path) -> None:
    # Each file's own keys first, the bomb under a key it would read: refused before that.
    config = tmp_path / "gateway.yaml"
    config.write_text("http:\n  port: 8080\nbomb:\n" + _indented(bomb()), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gateway\.yaml:\d+: not valid YAML: aliases expand to more than"):
        load_config(config, env={})
    faq = tmp_path / "faq.yaml"
    faq.write_text("entries: []\nbomb:\n" + _indented(bomb()), encoding="utf-8")
    with pytest.raises(FaqError) as refused:
        load_faq(faq)
    assert refused.value.problems[0].startswith(f"{faq}:") and "aliases expand" in refused.value.problems[0]
    knowledge = tmp_path / "knowledge.yaml"
    knowledge.write_text("articles: []\nbomb:\n" + _indented(bomb()), encoding="utf-8")
    with pytest.raises(KnowledgeError) as refused_k:
        load_knowledge(knowledge)
    assert refused_k.value.problems[0].startswith(f"{knowledge}:") and "aliases expand" in refused_k.value.problems[0]


def test_gateway_yaml_with_anchors_within_the_budget_still_reads(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "http: &web {host: 127.0.0.1, port: 8080}\nmetrics: {}\nsmtp: {enabled: false}\n", encoding="utf-8"
    )
    assert load_config(config, env={}).http.port == 8080


def _indented(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())
