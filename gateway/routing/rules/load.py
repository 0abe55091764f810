"""Loading a rules file: bytes → text → located YAML → a checked ``RuleSet``, or every problem."""

from __future__ import annotations

from pathlib import Path

from gateway.routing.rules.reader import Reader
from gateway.routing.rules.rule_list import read_rules, read_targets
from gateway.routing.rules.ruleset import (
    MAX_RULES_BYTES,
    SUPPORTED_VERSION,
    TOP_LEVEL_KEYS,
    Queue,
    RulesError,
    RuleSet,
    Target,
    rules_version,
)
from gateway.routing.rules.sections import read_agents, read_business_hours, read_queues, read_skills, read_timezone
from gateway.routing.rules.yaml_lines import Entry, Located, YamlProblem, parse


def load_rules(path: Path | str) -> RuleSet:
    """Read and check a rules file; ``RulesError`` lists every problem."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise RulesError([f"{where}:1: no such rules file"]) from None
    except OSError as exc:
        raise RulesError([f"{where}:1: cannot read the rules file: {exc.strerror or exc}"]) from None
    return parse_rules_bytes(data, path=where)


def parse_rules_bytes(data: bytes, *, path: str) -> RuleSet:
    if len(data) > MAX_RULES_BYTES:
        raise RulesError([f"{path}:1: the rules file is larger than {MAX_RULES_BYTES // (1024 * 1024)} MiB"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RulesError([f"{path}:{line}: not UTF-8 text"]) from None
    return parse_rules(text, path=path)


def parse_rules(text: str, *, path: str) -> RuleSet:
    """Check ``text`` as the rules file found at ``path`` (used in every message)."""
    try:
        document = parse(text)
    except YamlProblem as exc:
        raise RulesError([f"{path}:{exc.line}: {exc.message}"]) from None
    return read_document(Reader(path=path, text=text), document)


def read_document(r: Reader, document: Located | None) -> RuleSet:
    """The whole file, section by section; ``RulesError`` if any section had a problem."""
    if document is None:
        r.error(1, "the rules file is empty")
        raise r.fail()
    top = r.mapping(document, "the rules file")
    if top is None:
        raise r.fail()
    r.unknown_keys(top, TOP_LEVEL_KEYS, "top level")
    _check_version(r, top)
    timezone = read_timezone(r, top)
    skills = read_skills(r, top.get("skills"))
    hours = read_business_hours(r, top.get("business_hours"), timezone)
    if hours is not None and "timezone" not in top:
        r.error(top["business_hours"].key_line, "business_hours needs a top-level `timezone:`")
    queues = read_queues(r, top.get("queues"), skills, document.line)
    agents = read_agents(r, top.get("agents"), skills)
    defaults_entry = top.get("defaults")
    defaults = _read_defaults(r, defaults_entry, queues, document.line)
    rules = read_rules(r, top.get("rules"), queues, "business_hours" in top)
    if r.problems:
        raise r.fail()
    assert timezone is not None
    return RuleSet(
        path=r.path,
        text=r.text,
        version=rules_version(r.text),
        timezone=timezone,
        business_hours=hours,
        skills=skills,
        queues=queues,
        agents=agents,
        defaults=defaults,
        defaults_line=defaults_entry.key_line if defaults_entry else 1,
        rules=rules,
        lines={key: entry.key_line for key, entry in top.items()},
    )


def _check_version(r: Reader, top: dict[str, Entry]) -> None:
    if "version" in top:
        version = top["version"].value
        if version.value != SUPPORTED_VERSION or isinstance(version.value, bool):
            r.error(version.line, f"version {version.raw!r} is not supported; this gateway reads version 1")


def _read_defaults(r: Reader, entry: Entry | None, queues: dict[str, Queue], doc_line: int) -> tuple[Target, ...]:
    """``defaults: {targets: [...]}``: where conversations no rule matches go."""
    if entry is None:
        r.error(doc_line, "`defaults:` is missing: it says where conversations no rule matches go")
        return ()
    section = r.mapping(entry.value, "defaults")
    if section is None:
        return ()
    r.unknown_keys(section, ("targets",), "defaults")
    if "targets" not in section:
        r.error(entry.key_line, "defaults: `targets:` is missing")
        return ()
    return read_targets(r, section["targets"].value, "defaults", queues)
