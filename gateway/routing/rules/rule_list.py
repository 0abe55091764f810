"""Reading where conversations go: ``defaults`` and ``rules``, each rule's ``when:``
conditions and its ``targets``."""

from __future__ import annotations

import re
from typing import Any

from gateway.model import Channel, parse_duration
from gateway.routing import language
from gateway.routing.rules.patterns import PatternRefused, compile_pattern
from gateway.routing.rules.reader import Reader
from gateway.routing.rules.ruleset import (
    ATTRIBUTE_PREFIXES,
    DEFAULT_PRIORITY,
    KEYWORD_KINDS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    PLAIN_CONDITIONS,
    Condition,
    Queue,
    Rule,
    Target,
    attribute_value,
    fold,
)
from gateway.routing.rules.yaml_lines import Entry, Located

Words = list[tuple[str, int]]  # (word as written, its line)
Values = tuple[tuple[Any, ...], tuple[str, ...]]  # (normalised values, as shown in explanations)


def read_targets(r: Reader, located: Located, what: str, queues: dict[str, Queue]) -> tuple[Target, ...]:
    if not located.is_list or not located.value:
        r.error(located.line, f"{what}: targets must be a non-empty list of {{queue, priority, timeout}}")
        return ()
    targets: list[Target] = []
    previous_priority = DEFAULT_PRIORITY
    for position, item in enumerate(located.value, start=1):
        label = f"{what}: target {position}"
        body = r.mapping(item, label)
        if body is None:
            continue
        r.unknown_keys(body, ("queue", "priority", "timeout"), label)
        queue = _target_queue(r, body, item, label, queues)
        priority = previous_priority
        if "priority" in body:
            given = r.integer(body["priority"].value, f"{label}: priority", MIN_PRIORITY, MAX_PRIORITY)
            priority = given if given is not None else previous_priority
        timeout = _target_timeout(r, body["timeout"].value, label) if "timeout" in body else None
        previous_priority = priority
        targets.append(Target(queue=queue or "", priority=priority, timeout=timeout, line=item.line))
    return tuple(targets)


def _target_queue(r: Reader, body: dict[str, Entry], item: Located, label: str, queues: dict[str, Queue]) -> str | None:
    if "queue" not in body:
        r.error(item.line, f"{label}: `queue:` is missing")
        return None
    q = body["queue"].value
    queue = q.raw if q.raw is not None else None
    if queue is None or queue not in queues:
        known = ", ".join(queues) or "none declared"
        r.error(q.line, f"{label}: unknown queue {q.raw!r} (queues: {known})")
    return queue


def _target_timeout(r: Reader, t: Located, label: str) -> float | None:
    try:
        timeout = parse_duration(t.value if not isinstance(t.value, str) else t.raw or "")
        if timeout <= 0:
            raise ValueError("must be more than 0")
    except (ValueError, TypeError):
        r.error(t.line, f"{label}: bad duration {t.raw!r} for timeout (use e.g. 30s, 10m, 2h, 1d)")
        return None
    return timeout


def read_rules(r: Reader, entry: Entry | None, queues: dict[str, Queue], has_hours: bool) -> tuple[Rule, ...]:
    if entry is None or entry.value.value is None:
        return ()
    if not entry.value.is_list:
        r.error(entry.value.line, "rules must be a list")
        return ()
    rules: list[Rule] = []
    names: dict[str, int] = {}  # rule name → its line
    for position, item in enumerate(entry.value.value, start=1):
        body = r.mapping(item, f"rule {position}")
        if body is None:
            continue
        name = _rule_name(r, body, item, position, names)
        label = f"rule {name!r}"
        r.unknown_keys(body, ("name", "when", "targets", "open_case"), label)
        conditions: tuple[Condition, ...] = ()
        if "when" not in body:
            r.error(item.line, f"{label}: `when:` is missing (write `when: {{}}` to match everything)")
        else:
            conditions = read_conditions(r, body["when"].value, label, has_hours)
        targets: tuple[Target, ...] = ()
        if "targets" not in body:
            r.error(item.line, f"{label}: `targets:` is missing")
        else:
            targets = read_targets(r, body["targets"].value, label, queues)
        open_case = _open_case(r, body["open_case"].value, label) if "open_case" in body else None
        rules.append(Rule(name=name, conditions=conditions, targets=targets, line=item.line, open_case=open_case))
    return tuple(rules)


_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _open_case(r: Reader, located: Located, label: str) -> str | None:
    """``open_case: <category>``: a category of the case workflow file (``cases.file``)."""
    if located.raw is None or not _CATEGORY.match(located.raw):
        r.error(located.line, f"{label}: open_case must be a case category id such as double_charge")
        return None
    return located.raw


def _rule_name(r: Reader, body: dict[str, Entry], item: Located, position: int, names: dict[str, int]) -> str:
    """The rule's ``name:`` (``#position`` when missing); each name once in the file."""
    written = body["name"].value if "name" in body else None
    if written is None or written.raw is None or not written.raw.strip():
        r.error(item.line, f"rule {position}: `name:` is missing")
        return f"#{position}"
    name = written.raw.strip()
    if name in names:
        r.error(written.line, f"rule name {name!r} is used twice (first on line {names[name]})")
    names[name] = written.line
    return name


def read_conditions(r: Reader, located: Located, label: str, has_hours: bool) -> tuple[Condition, ...]:
    entries = r.mapping(located, f"{label}: when", allow_null=True)
    conditions: list[Condition] = []
    for key, entry in (entries or {}).items():
        condition = read_condition(r, key, entry, label, has_hours)
        if condition is not None:
            conditions.append(condition)
    return tuple(conditions)


def read_condition(r: Reader, key: str, entry: Entry, label: str, has_hours: bool) -> Condition | None:
    """One ``key: value`` of a rule's ``when:``, its values normalised the way the engine
    compares them."""
    kind, attribute = _condition_kind(key)
    if kind is None:
        known = ", ".join([*PLAIN_CONDITIONS, "contact.<attribute>", "attribute.<name>"])
        r.error(entry.key_line, f"{label}: unknown condition key {key!r} (known: {known})")
        return None
    what = f"{label}: {key}"
    found: Values | None
    if kind in ("business_hours", "new_contact", "verified"):
        found = _yes_or_no(r, kind, entry, what, has_hours)
    else:
        words = r.text_list(entry.value, what)
        if words is None:
            return None
        shown = tuple(dict.fromkeys(word for word, _ in words))
        if kind == "channel":
            found = _channels(r, words, what), shown
        elif kind == "language":
            found = _languages(r, words, what), shown
        elif kind in KEYWORD_KINDS:
            found = _keywords(r, words, what)
        elif kind == "regex":
            found = _patterns(r, words, what)
        else:
            found = _attribute_values(r, entry.value, what), shown
    if found is None:
        return None
    values, shown = found
    return Condition(key=key, kind=kind, values=values, shown=shown, line=entry.key_line, attribute=attribute)


def _condition_kind(key: str) -> tuple[str | None, str | None]:
    """(kind, attribute name) of a condition key; kind None for an unknown key."""
    kind = key if key in PLAIN_CONDITIONS else None
    attribute = None
    for prefix, prefix_kind in ATTRIBUTE_PREFIXES.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            kind, attribute = prefix_kind, key[len(prefix) :]
    return kind, attribute


def _yes_or_no(r: Reader, kind: str, entry: Entry, what: str, has_hours: bool) -> Values | None:
    located = entry.value
    if not isinstance(located.value, bool):
        r.error(located.line, f"{what} must be true or false, not {located.raw!r}")
        return None
    if kind == "business_hours" and not has_hours:
        r.error(entry.key_line, f"{what}: there is no `business_hours:` section to test against")
        return None
    return (located.value,), (str(located.value).lower(),)


def _channels(r: Reader, words: Words, what: str) -> tuple[str, ...]:
    valid = {c.value for c in Channel}
    values: list[str] = []
    for word, line in words:
        if word.lower() not in valid:
            r.error(line, f"{what}: unknown channel {word!r} (channels: {', '.join(sorted(valid))})")
        values.append(word.lower())
    return tuple(dict.fromkeys(values))


def _languages(r: Reader, words: Words, what: str) -> tuple[str | None, ...]:
    values: list[str | None] = []
    for word, line in words:
        code = language.normalise(word)
        if code is None:
            r.error(line, f"{what}: {word!r} is not a language code such as zh or en")
        values.append(code)
    return tuple(dict.fromkeys(values))


def _keywords(r: Reader, words: Words, what: str) -> Values:
    """Folded keywords, and each as first written (explanations show the latter)."""
    folded: dict[str, str] = {}
    for word, line in words:
        if not fold(word).strip():
            r.error(line, f"{what}: an empty keyword")
        folded.setdefault(fold(word), word)
    return tuple(folded), tuple(folded.values())


def _patterns(r: Reader, words: Words, what: str) -> Values:
    patterns = []
    for word, line in dict.fromkeys(words):
        try:
            patterns.append(compile_pattern(word))
        except PatternRefused as exc:
            r.error(line, f"{what}: bad regular expression '{word}': {exc}")
    return tuple(patterns), tuple(p.pattern for p in patterns)


def _attribute_values(r: Reader, located: Located, what: str) -> tuple[str, ...]:
    """``contact.<attribute>`` / ``attribute.<name>``: values compare as folded text."""
    items = located.value if located.is_list else [located]
    values = []
    for item in items:
        if isinstance(item.value, dict | list) or item.value is None:
            r.error(item.line, f"{what}: each value must be plain text, a number or true/false")
            continue
        values.append(attribute_value(item.value))
    return tuple(dict.fromkeys(values))
