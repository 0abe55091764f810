"""The workflow file: its schema, ``PATH:LINE`` errors, ``gateway cases check``, the
shipped example, start-up refusals and reloads that keep the workflow in force."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import build_app
from gateway.cases.library import WorkflowLibrary
from gateway.cases.workflow import PLACEHOLDERS, Templates, placeholders
from gateway.cases.workflow_file import WorkflowError, load_workflow
from gateway.config import ConfigError, load_config
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import MemoryStore
from tests.cases.support import WORKFLOW, write_workflow
from tests.helpers import gateway_config

ROOT = Path(__file__).resolve().parents[2]

BAD = """\
number_prefix: cp
timezone: Mars/Olympus
categories:
  double_charge:
    name: {zh: 重复扣款}
    kind: complain
    first_update_within: 2d
    resolve_within: 15d
    max_resolve_within: 10d
    quue: general
  ok_one:
    name: {zh: 好, en: good}
    kind: feedback
    first_update_within: 20d
    resolve_within: 15d
    max_resolve_within: 30d
    queue: general
templates:
  extended:
    zh: "延期到 {eta}"
    en: "extended to {eta} because {reason} {secret.__class__}"
"""


def errors_of(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    return caught.value.errors


def test_every_problem_is_named_with_its_line(tmp_path: Path) -> None:
    errors = errors_of(BAD, tmp_path)
    where = str(tmp_path / "bad.yaml")
    assert all(e.startswith(where + ":") for e in errors)
    lines = {e.split(":")[1] + ":" + e.split(": ", 2)[1] for e in errors}
    assert "1:number_prefix" in lines
    assert "2:timezone" in lines
    assert "5:categories.double_charge.name.en" in lines
    assert "6:categories.double_charge.kind" in lines
    assert "10:categories.double_charge.quue" in lines
    assert "11:categories.ok_one" in lines  # first_update_within longer than resolve_within
    assert "19:templates.extended" in lines
    text = "\n".join(errors)
    assert "must include {reason}" in text and "unknown placeholder {secret.__class__}" in text
    assert "unknown key" in text and "Mars/Olympus" in text


def test_yaml_mistakes_and_odd_files_are_errors_too(tmp_path: Path) -> None:
    assert errors_of("number_prefix: CP\ncategories: [\n", tmp_path)[0].split(":")[1] in ("2", "3")
    assert "must be a mapping" in errors_of("- a list\n", tmp_path)[0]
    assert "categories: is required" in errors_of("number_prefix: CP\n", tmp_path)[0]
    assert "duplicate key" in errors_of(WORKFLOW + "number_prefix: XY\n", tmp_path)[0]


def test_the_default_texts_are_valid_and_use_only_their_placeholders() -> None:
    templates = Templates()
    for name, (allowed, required) in PLACEHOLDERS.items():
        for language in ("zh", "en"):
            used = placeholders(getattr(getattr(templates, name), language))
            assert required <= used <= allowed, (name, language)
    Templates.model_validate(templates.model_dump())  # and they pass their own checks


def test_the_check_command_prints_path_line_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "cases", "check", str(bad)], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 1 and run.stdout.splitlines()[0].startswith(f"{bad}:1: number_prefix:")
    assert "errors" in run.stderr
    good = subprocess.run(
        [sys.executable, "-m", "gateway", "cases", "check", "config/cases.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0 and "ok — prefix CP, 5 categories" in good.stdout


def test_the_demo_configuration_has_cases_on() -> None:
    config = load_config(ROOT / "config" / "gateway.yaml", env={})
    assert config.cases.file is not None
    app = build_app(config, store=MemoryStore(), publisher=MemoryPublisher())
    assert any(r.resource.canonical == "/api/v1/cases" for r in app.router.routes() if r.resource)


def test_start_up_refuses_a_bad_file_or_a_queue_the_rules_lack(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)cases\.file: .*bad\.yaml:1: number_prefix"):
        gateway_config(cases={"file": str(bad)})
    elsewhere = write_workflow(tmp_path, WORKFLOW.replace("queue: general", "queue: complaints"))
    with pytest.raises(ConfigError, match="no queue named complaints"):
        build_app(gateway_config(cases={"file": str(elsewhere)}), store=MemoryStore(), publisher=MemoryPublisher())
    with pytest.raises(ConfigError, match=r"retention: .*at least 3 years"):
        gateway_config(cases={"file": str(write_workflow(tmp_path)), "retention": "365d"})


def test_a_reload_with_a_bad_edit_keeps_the_workflow_in_force(tmp_path: Path) -> None:
    path = write_workflow(tmp_path)
    library = WorkflowLibrary(path, check=lambda w: [f"no queue named {q}" for q in w.queues() - {"general"}])
    first = library.version
    path.write_text(WORKFLOW.replace("number_prefix: CP", "number_prefix: cp"), encoding="utf-8")
    assert library.reload_if_changed() is False and library.workflow.number_prefix == "CP"
    assert library.error is not None and "number_prefix" in library.error
    path.write_text(WORKFLOW.replace("queue: general", "queue: nowhere"), encoding="utf-8")
    assert library.reload_if_changed() is False and "no queue named nowhere" in (library.error or "")
    path.write_text(WORKFLOW.replace("number_prefix: CP", "number_prefix: FB"), encoding="utf-8")
    assert library.reload_if_changed() is True and library.workflow.number_prefix == "FB"
    assert library.error is None and library.version != first and library.status()["categories"] == 2
