"""The rules file (ROUTING.md, a contract) read into typed, checked objects.

Ops edit this file by hand and swap it into a running gateway, so loading is all-or-nothing:
every problem is collected (not just the first) and reported as ``PATH:LINE: message``,
and a file with any error never becomes a ``RuleSet``. Unknown keys are errors too — a
misspelt ``keyword:`` that silently matched everything would route real customers wrong.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.model import Channel, parse_duration
from gateway.routing import language
from gateway.routing.calendar import DAYS, BusinessHours, Interval, parse_interval
from gateway.routing.yaml_lines import Entry, Located, YamlProblem, parse

SUPPORTED_VERSION = 1
DEFAULT_PRIORITY = 3
MIN_PRIORITY, MAX_PRIORITY = 0, 9
MIN_LEVEL, MAX_LEVEL = 1, 5
MAX_RULES_BYTES = 4 * 1024 * 1024

TOP_LEVEL_KEYS = ("version", "timezone", "business_hours", "skills", "queues", "agents", "defaults", "rules")
PLAIN_CONDITIONS = (
    "channel",
    "language",
    "keywords",
    "all_keywords",
    "regex",
    "subject_keywords",
    "business_hours",
    "new_contact",
)
ATTRIBUTE_PREFIXES = {"contact.": "contact", "attribute.": "attribute"}
KEYWORD_KINDS = ("keywords", "all_keywords", "subject_keywords")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def fold(text: str) -> str:
    """Text as keyword matching sees it: full-width forms made plain (ＶＩＰ → vip), case folded."""
    if text.isascii():  # already NFKC, and casefold() is lower() for ASCII: the common case, faster
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def attribute_value(value: Any) -> str:
    """Attribute values compare as folded text, so ``VIP`` == ``vip`` and ``true`` == True."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return fold(str(value).strip())


def rules_version(text: str) -> str:
    """Short content hash: the same file gives the same version in every gateway process."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class RulesError(Exception):
    """The rules cannot be used; ``errors`` are ``PATH:LINE: message`` lines, in file order."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    key: str  # as written: "channel", "contact.tier"
    kind: str  # a PLAIN_CONDITIONS name, "contact" or "attribute"
    values: tuple[Any, ...]  # normalised: folded keywords, compiled patterns, channel names, (bool,)
    shown: tuple[str, ...]  # as written, for explanations; one per value for keywords and regex
    line: int
    attribute: str | None = None  # the name after "contact." / "attribute."


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    queue: str
    priority: int
    timeout: float | None  # seconds this target holds the conversation before the next applies
    line: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...]
    targets: tuple[Target, ...]
    line: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    name: str
    skills: dict[str, int]  # required skill → minimum level
    line: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    name: str
    skills: dict[str, int]
    capacity: int
    line: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    path: str
    text: str
    version: str
    timezone: ZoneInfo
    business_hours: BusinessHours | None
    skills: dict[str, int]  # declared skill → its line
    queues: dict[str, Queue]
    agents: dict[str, Agent]
    defaults: tuple[Target, ...]
    defaults_line: int
    rules: tuple[Rule, ...]
    lines: dict[str, int] = field(default_factory=dict)  # section name → line, for lint messages

    def can_serve(self, agent: str, queue: str) -> bool:
        """Whether ``agent`` meets every minimum skill level ``queue`` requires."""
        a, q = self.agents.get(agent), self.queues.get(queue)
        if a is None or q is None:
            return False
        return all(a.skills.get(skill, 0) >= level for skill, level in q.skills.items())

    def agents_for(self, queue: str) -> list[str]:
        return [name for name in self.agents if self.can_serve(name, queue)]

    def queues_for(self, agent: str) -> list[str]:
        return [name for name in self.queues if self.can_serve(agent, name)]


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
    return _Reader(path=path, text=text).read(document)


class _Reader:
    """One pass over the located YAML, collecting every problem before giving up."""

    def __init__(self, *, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.problems: list[tuple[int, int, str]] = []

    def error(self, line: int, message: str) -> None:
        self.problems.append((line, len(self.problems), message))

    def fail(self) -> RulesError:
        ordered = sorted(self.problems)
        return RulesError([f"{self.path}:{line}: {message}" for line, _, message in ordered])

    # -- helpers -----------------------------------------------------------------------

    def mapping(self, located: Located | None, what: str, *, allow_null: bool = False) -> dict[str, Entry] | None:
        if located is None or (allow_null and located.value is None):
            return {}
        if not located.is_mapping:
            self.error(located.line, f"{what} must be a mapping")
            return None
        return located.value

    def unknown_keys(self, entries: dict[str, Entry], known: tuple[str, ...], what: str) -> None:
        for key, entry in entries.items():
            if key not in known:
                self.error(entry.key_line, f"{what}: unknown key {key!r} (known keys: {', '.join(known)})")

    def text_list(self, located: Located, what: str, *, allow_scalar: bool = True) -> list[tuple[str, int]] | None:
        """A list of non-empty words as written (a single word is a list of one)."""
        items = located.value if located.is_list else ([located] if allow_scalar and not located.is_mapping else None)
        if items is None:
            self.error(located.line, f"{what} must be a list")
            return None
        if not items:
            self.error(located.line, f"{what} is an empty list, which never matches")
            return None
        found: list[tuple[str, int]] = []
        for item in items:
            if item.raw is None or item.value is None:
                self.error(item.line, f"{what}: each entry must be plain text")
                continue
            word = item.raw.strip()
            if not word:
                self.error(item.line, f"{what}: an empty entry")
                continue
            found.append((word, item.line))
        return found

    def integer(self, located: Located, what: str, low: int, high: int) -> int | None:
        value = located.value
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(located.line, f"{what} must be a whole number from {low} to {high}, not {located.raw!r}")
            return None
        return value

    # -- the document ----------------------------------------------------------------

    def read(self, document: Located | None) -> RuleSet:
        if document is None:
            self.error(1, "the rules file is empty")
            raise self.fail()
        top = self.mapping(document, "the rules file")
        if top is None:
            raise self.fail()
        self.unknown_keys(top, TOP_LEVEL_KEYS, "top level")
        lines = {key: entry.key_line for key, entry in top.items()}

        if "version" in top:
            version = top["version"].value
            if version.value != SUPPORTED_VERSION or isinstance(version.value, bool):
                self.error(version.line, f"version {version.raw!r} is not supported; this gateway reads version 1")

        timezone = self.read_timezone(top)
        skills = self.read_skills(top.get("skills"))
        hours = self.read_business_hours(top.get("business_hours"), timezone)
        if hours is not None and "timezone" not in top:
            self.error(top["business_hours"].key_line, "business_hours needs a top-level `timezone:`")
        queues = self.read_queues(top.get("queues"), skills, document.line)
        agents = self.read_agents(top.get("agents"), skills)
        defaults_entry = top.get("defaults")
        defaults: tuple[Target, ...] = ()
        if defaults_entry is None:
            self.error(document.line, "`defaults:` is missing: it says where conversations no rule matches go")
        else:
            section = self.mapping(defaults_entry.value, "defaults")
            if section is not None:
                self.unknown_keys(section, ("targets",), "defaults")
                if "targets" not in section:
                    self.error(defaults_entry.key_line, "defaults: `targets:` is missing")
                else:
                    defaults = self.read_targets(section["targets"].value, "defaults", queues)
        rules = self.read_rules(top.get("rules"), queues, "business_hours" in top)

        if self.problems:
            raise self.fail()
        assert timezone is not None
        return RuleSet(
            path=self.path,
            text=self.text,
            version=rules_version(self.text),
            timezone=timezone,
            business_hours=hours,
            skills=skills,
            queues=queues,
            agents=agents,
            defaults=defaults,
            defaults_line=defaults_entry.key_line if defaults_entry else 1,
            rules=rules,
            lines=lines,
        )

    def read_timezone(self, top: dict[str, Entry]) -> ZoneInfo | None:
        entry = top.get("timezone")
        if entry is None:
            return ZoneInfo("UTC")
        name = entry.value.value
        if not isinstance(name, str) or not name.strip():
            self.error(entry.value.line, "timezone must be a name such as Asia/Shanghai")
            return None
        try:
            return ZoneInfo(name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            self.error(entry.value.line, f"unknown timezone {name!r} (use an IANA name such as Asia/Shanghai)")
            return None

    def read_skills(self, entry: Entry | None) -> dict[str, int]:
        if entry is None:
            return {}
        words = self.text_list(entry.value, "skills", allow_scalar=False)
        skills: dict[str, int] = {}
        for word, line in words or []:
            if word in skills:
                self.error(line, f"skill {word!r} is listed twice (first on line {skills[word]})")
            else:
                skills[word] = line
        return skills

    def read_business_hours(self, entry: Entry | None, timezone: ZoneInfo | None) -> BusinessHours | None:
        if entry is None:
            return None
        section = self.mapping(entry.value, "business_hours")
        if section is None:
            return None
        self.unknown_keys(section, ("weekly", "holidays", "special_days"), "business_hours")
        weekly: dict[int, tuple[Interval, ...]] = {}
        week = self.mapping(section["weekly"].value, "business_hours.weekly") if "weekly" in section else {}
        if "weekly" not in section:
            self.error(entry.key_line, "business_hours: `weekly:` is missing")
        for day, day_entry in (week or {}).items():
            if day not in DAYS:
                self.error(day_entry.key_line, f"business_hours.weekly: unknown day {day!r} (use {', '.join(DAYS)})")
                continue
            weekly[DAYS.index(day)] = self.read_intervals(day_entry.value, f"business_hours.weekly.{day}")
        holidays: set[date] = set()
        if "holidays" in section:
            for text, line in self.text_list(section["holidays"].value, "business_hours.holidays") or []:
                day_value = self.read_date(text, line, "business_hours.holidays")
                if day_value is not None:
                    holidays.add(day_value)
        special: dict[date, tuple[Interval, ...]] = {}
        if "special_days" in section:
            days = self.mapping(section["special_days"].value, "business_hours.special_days") or {}
            for text, day_entry in days.items():
                day_value = self.read_date(text, day_entry.key_line, "business_hours.special_days")
                if day_value is None:
                    continue
                if day_value in holidays:
                    self.error(day_entry.key_line, f"business_hours: {text} is both a holiday and a special day")
                special[day_value] = self.read_intervals(day_entry.value, f"business_hours.special_days.{text}")
        if timezone is None:
            return None
        return BusinessHours(timezone=timezone, weekly=weekly, holidays=frozenset(holidays), special_days=special)

    def read_intervals(self, located: Located, what: str) -> tuple[Interval, ...]:
        if located.value is None:
            return ()
        if not located.is_list:
            self.error(located.line, f'{what} must be a list of intervals such as ["09:00-12:00"]')
            return ()
        intervals: list[Interval] = []
        for item in located.value:
            try:
                interval = parse_interval(item.raw if item.raw is not None else item.value)
            except ValueError as exc:
                self.error(item.line, f"{what}: {exc}")
                continue
            for other in intervals:
                if interval.start < other.end and other.start < interval.end:
                    self.error(item.line, f"{what}: {interval} overlaps {other}")
                    break
            else:
                intervals.append(interval)
        return tuple(sorted(intervals, key=lambda i: i.start))

    def read_date(self, text: str, line: int, what: str) -> date | None:
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.error(line, f"{what}: {text!r} is not a date (write YYYY-MM-DD)")
            return None

    def read_skill_levels(self, located: Located, what: str, skills: dict[str, int]) -> dict[str, int]:
        if located.value is None:
            return {}
        levels: dict[str, int] = {}
        if located.is_list:  # [payments, chinese] means level 1 of each
            for word, line in self.text_list(located, what) or []:
                if word not in skills:
                    self.error(line, f"{what}: unknown skill {word!r} (declare it under `skills:`)")
                levels[word] = MIN_LEVEL
            return levels
        entries = self.mapping(located, f"{what} (skill: level)")
        for skill, entry in (entries or {}).items():
            if skill not in skills:
                self.error(entry.key_line, f"{what}: unknown skill {skill!r} (declare it under `skills:`)")
            level = self.integer(entry.value, f"{what}.{skill} level", MIN_LEVEL, MAX_LEVEL)
            if level is not None:
                levels[skill] = level
        return levels

    def read_queues(self, entry: Entry | None, skills: dict[str, int], doc_line: int) -> dict[str, Queue]:
        if entry is None:
            self.error(doc_line, "`queues:` is missing: name at least one queue")
            return {}
        section = self.mapping(entry.value, "queues")
        if section is not None and not section:
            self.error(entry.key_line, "queues: name at least one queue")
        queues: dict[str, Queue] = {}
        for name, q_entry in (section or {}).items():
            if not _QUEUE_NAME.match(name) or name.startswith("amq."):
                self.error(
                    q_entry.key_line,
                    f"bad queue name {name!r}: letters, digits and . _ : - only, at most 128, not starting with amq.",
                )
            body = self.mapping(q_entry.value, f"queue {name!r}", allow_null=True)
            required: dict[str, int] = {}
            if body is not None:
                self.unknown_keys(body, ("skills",), f"queue {name!r}")
                if "skills" in body:
                    required = self.read_skill_levels(body["skills"].value, f"queue {name!r} skills", skills)
            queues[name] = Queue(name=name, skills=required, line=q_entry.key_line)
        return queues

    def read_agents(self, entry: Entry | None, skills: dict[str, int]) -> dict[str, Agent]:
        if entry is None:
            return {}
        section = self.mapping(entry.value, "agents", allow_null=True)
        agents: dict[str, Agent] = {}
        for name, a_entry in (section or {}).items():
            body = self.mapping(a_entry.value, f"agent {name!r}", allow_null=True) or {}
            self.unknown_keys(body, ("skills", "capacity"), f"agent {name!r}")
            levels = (
                self.read_skill_levels(body["skills"].value, f"agent {name!r} skills", skills)
                if "skills" in body
                else {}
            )
            capacity = 1
            if "capacity" in body:
                capacity = self.integer(body["capacity"].value, f"agent {name!r} capacity", 1, 1000) or 1
            agents[name] = Agent(name=name, skills=levels, capacity=capacity, line=a_entry.key_line)
        return agents

    def read_targets(self, located: Located, what: str, queues: dict[str, Queue]) -> tuple[Target, ...]:
        if not located.is_list or not located.value:
            self.error(located.line, f"{what}: targets must be a non-empty list of {{queue, priority, timeout}}")
            return ()
        targets: list[Target] = []
        previous_priority = DEFAULT_PRIORITY
        for position, item in enumerate(located.value, start=1):
            label = f"{what}: target {position}"
            body = self.mapping(item, label)
            if body is None:
                continue
            self.unknown_keys(body, ("queue", "priority", "timeout"), label)
            queue = None
            if "queue" not in body:
                self.error(item.line, f"{label}: `queue:` is missing")
            else:
                q = body["queue"].value
                queue = q.raw if q.raw is not None else None
                if queue is None or queue not in queues:
                    known = ", ".join(queues) or "none declared"
                    self.error(q.line, f"{label}: unknown queue {q.raw!r} (queues: {known})")
            priority = previous_priority
            if "priority" in body:
                given = self.integer(body["priority"].value, f"{label}: priority", MIN_PRIORITY, MAX_PRIORITY)
                priority = given if given is not None else previous_priority
            timeout = None
            if "timeout" in body:
                t = body["timeout"].value
                try:
                    timeout = parse_duration(t.value if not isinstance(t.value, str) else t.raw or "")
                    if timeout <= 0:
                        raise ValueError("must be more than 0")
                except (ValueError, TypeError):
                    self.error(t.line, f"{label}: bad duration {t.raw!r} for timeout (use e.g. 30s, 10m, 2h, 1d)")
                    timeout = None
            previous_priority = priority
            targets.append(Target(queue=queue or "", priority=priority, timeout=timeout, line=item.line))
        return tuple(targets)

    def read_rules(self, entry: Entry | None, queues: dict[str, Queue], has_hours: bool) -> tuple[Rule, ...]:
        if entry is None or entry.value.value is None:
            return ()
        if not entry.value.is_list:
            self.error(entry.value.line, "rules must be a list")
            return ()
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for position, item in enumerate(entry.value.value, start=1):
            body = self.mapping(item, f"rule {position}")
            if body is None:
                continue
            name = f"#{position}"
            if "name" not in body or body["name"].value.raw is None or not body["name"].value.raw.strip():
                self.error(item.line, f"rule {position}: `name:` is missing")
            else:
                name = body["name"].value.raw.strip()
                if name in names:
                    first = names[name]
                    self.error(body["name"].value.line, f"rule name {name!r} is used twice (first on line {first})")
                names[name] = body["name"].value.line
            label = f"rule {name!r}"
            self.unknown_keys(body, ("name", "when", "targets"), label)
            conditions: tuple[Condition, ...] = ()
            if "when" not in body:
                self.error(item.line, f"{label}: `when:` is missing (write `when: {{}}` to match everything)")
            else:
                conditions = self.read_conditions(body["when"].value, label, has_hours)
            targets: tuple[Target, ...] = ()
            if "targets" not in body:
                self.error(item.line, f"{label}: `targets:` is missing")
            else:
                targets = self.read_targets(body["targets"].value, label, queues)
            rules.append(Rule(name=name, conditions=conditions, targets=targets, line=item.line))
        return tuple(rules)

    def read_conditions(self, located: Located, label: str, has_hours: bool) -> tuple[Condition, ...]:
        entries = self.mapping(located, f"{label}: when", allow_null=True)
        conditions: list[Condition] = []
        for key, entry in (entries or {}).items():
            condition = self.read_condition(key, entry, label, has_hours)
            if condition is not None:
                conditions.append(condition)
        return tuple(conditions)

    def read_condition(self, key: str, entry: Entry, label: str, has_hours: bool) -> Condition | None:
        what = f"{label}: {key}"
        located = entry.value
        kind = key if key in PLAIN_CONDITIONS else None
        attribute = None
        for prefix, prefix_kind in ATTRIBUTE_PREFIXES.items():
            if key.startswith(prefix) and len(key) > len(prefix):
                kind, attribute = prefix_kind, key[len(prefix) :]
        if kind is None:
            known = ", ".join([*PLAIN_CONDITIONS, "contact.<attribute>", "attribute.<name>"])
            self.error(entry.key_line, f"{label}: unknown condition key {key!r} (known: {known})")
            return None

        def make(values: tuple[Any, ...], shown: tuple[str, ...]) -> Condition:
            return Condition(key=key, kind=kind, values=values, shown=shown, line=entry.key_line, attribute=attribute)

        if kind in ("business_hours", "new_contact"):
            if not isinstance(located.value, bool):
                self.error(located.line, f"{what} must be true or false, not {located.raw!r}")
                return None
            if kind == "business_hours" and not has_hours:
                self.error(entry.key_line, f"{what}: there is no `business_hours:` section to test against")
                return None
            return make((located.value,), (str(located.value).lower(),))

        words = self.text_list(located, what)
        if words is None:
            return None
        shown = tuple(dict.fromkeys(word for word, _ in words))
        if kind == "channel":
            valid = {c.value for c in Channel}
            values: list[Any] = []
            for word, line in words:
                if word.lower() not in valid:
                    self.error(line, f"{what}: unknown channel {word!r} (channels: {', '.join(sorted(valid))})")
                values.append(word.lower())
            return make(tuple(dict.fromkeys(values)), shown)
        if kind == "language":
            values = []
            for word, line in words:
                code = language.normalise(word)
                if code is None:
                    self.error(line, f"{what}: {word!r} is not a language code such as zh or en")
                values.append(code)
            return make(tuple(dict.fromkeys(values)), shown)
        if kind in KEYWORD_KINDS:
            folded: dict[str, str] = {}  # folded → as first written; explanations show the latter
            for word, line in words:
                if not fold(word).strip():
                    self.error(line, f"{what}: an empty keyword")
                folded.setdefault(fold(word), word)
            return make(tuple(folded), tuple(folded.values()))
        if kind == "regex":
            patterns = []
            for word, line in dict.fromkeys(words):
                try:
                    patterns.append(re.compile(word, re.IGNORECASE))
                except re.error as exc:
                    self.error(line, f"{what}: bad regular expression '{word}': {exc}")
            return make(tuple(patterns), tuple(p.pattern for p in patterns))
        # contact.<attribute> / attribute.<name>: compare as folded text
        items = located.value if located.is_list else [located]
        values = []
        for item in items:
            if isinstance(item.value, dict | list) or item.value is None:
                self.error(item.line, f"{what}: each value must be plain text, a number or true/false")
                continue
            values.append(attribute_value(item.value))
        return make(tuple(dict.fromkeys(values)), shown)
