"""YAML read into values that remember their line, so every rules error can say ``PATH:LINE``.

The one YAML reader of the gateway: the rules file, the cases workflow, ``gateway.yaml``,
the FAQ and the knowledge file all come through ``compose`` (nodes), ``parse`` (``Located``)
or ``load`` (plain values), so the same alias budget and depth limit guard every one.

``yaml.safe_load`` forgets where things were; ``yaml.compose`` keeps the marks. We walk the
composed nodes once and keep, for every mapping key and value, the 1-based line it sits on.
Keys are kept as the text written (``no:`` stays ``"no"``, a date stays ``"2026-10-01"``),
values as YAML's safe types, plus their raw text (so a keyword written ``no`` or ``404``
is still the word the author typed, not ``False`` or ``404``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MERGE_TAG = "tag:yaml.org,2002:merge"
# libyaml's parser when PyYAML has it: a rules file of thousands of rules composes ~10× faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlProblem(Exception):
    """The text is not YAML we can read; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message

    def located(self, source: object) -> str:
        """``SOURCE:LINE: not valid YAML: …`` for files that say it that way."""
        return f"{source}:{self.line}: not valid YAML: {self.message.removeprefix('YAML syntax error: ')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """A value with the line it was written on; mappings and lists hold ``Located`` too."""

    value: Any
    line: int
    raw: str | None = None  # the scalar exactly as written, None for collections

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One ``key: value`` pair of a mapping."""

    key: str
    key_line: int
    value: Located


def compose(text: str) -> Node | None:
    """The document's nodes (with their marks), refused past the alias budget or nested
    too deeply before anyone walks them; ``None`` for an empty document."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        # "Found the end of the file" points one past the last line; name the last line.
        line = max(1, min(line, text.count("\n") + (0 if text.endswith("\n") else 1)))
        problem = exc.problem or exc.context or "not valid YAML"
        raise YamlProblem(line, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"YAML syntax error: {exc}") from None
    if node is not None:
        _walk(node, depth=0, budget=_Budget())
    return node


def parse(text: str) -> Located | None:
    """The document as ``Located`` values; ``None`` for an empty document."""
    node = compose(text)
    if node is None:
        return None
    return _convert(node, SafeConstructor(), depth=0, budget=_Budget())


def load(text: str) -> Any:
    """The document as plain values (keys as written), like ``yaml.safe_load`` within the
    budget; ``None`` for an empty document."""
    located = parse(text)
    return None if located is None else plain(located)


_MAX_DEPTH = 64
# Nodes an alias (``*name``) may add by repeating its anchor. A few hundred bytes of
# aliases of aliases ("billion laughs") would otherwise expand to millions of values and
# seconds of CPU; real files repeat a business-hours list or a target, a few nodes each.
ALIAS_BUDGET = 10_000


class _Budget:
    """Counts node visits against distinct nodes: the difference is what aliases added."""

    __slots__ = ("seen", "visits")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.visits = 0

    def spend(self, node: Node, line: int) -> None:
        self.visits += 1
        self.seen.add(id(node))
        if self.visits - len(self.seen) > ALIAS_BUDGET:
            raise YamlProblem(line, f"aliases expand to more than {ALIAS_BUDGET} repeated values; write it out")


def _walk(node: Node, *, depth: int, budget: _Budget) -> None:
    """Every node as a reader following aliases would meet it, counted on the budget."""
    line = node.start_mark.line + 1
    if depth > _MAX_DEPTH:
        raise YamlProblem(line, "nested too deeply")
    budget.spend(node, line)
    if isinstance(node, SequenceNode):
        for item in node.value:
            _walk(item, depth=depth + 1, budget=budget)
    elif isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            _walk(key_node, depth=depth + 1, budget=budget)
            _walk(value_node, depth=depth + 1, budget=budget)


def _convert(node: Node, constructor: SafeConstructor, *, depth: int, budget: _Budget) -> Located:
    line = node.start_mark.line + 1
    if depth > _MAX_DEPTH:
        raise YamlProblem(line, "nested too deeply")
    budget.spend(node, line)
    if isinstance(node, ScalarNode):
        try:
            value = constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            # Looks like a typed scalar but is not one (2026-13-01): keep the text, and let
            # the schema say what it expected there.
            value = node.value
        return Located(value=value, line=line, raw=node.value)
    if isinstance(node, SequenceNode):
        items = [_convert(item, constructor, depth=depth + 1, budget=budget) for item in node.value]
        return Located(value=items, line=line)
    if isinstance(node, MappingNode):
        entries: dict[str, Entry] = {}
        for key_node, value_node in _flatten(node):
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(key_line, "a mapping key must be plain text")
            key = key_node.value
            if key in entries:
                raise YamlProblem(key_line, f"duplicate key {key!r} (first on line {entries[key].key_line})")
            value = _convert(value_node, constructor, depth=depth + 1, budget=budget)
            entries[key] = Entry(key=key, key_line=key_line, value=value)
        return Located(value=entries, line=line)
    raise YamlProblem(line, "unsupported YAML node")


def _flatten(node: MappingNode) -> list[tuple[Node, Node]]:
    """The pairs of a mapping with ``<<: *anchor`` merges applied; explicit keys win."""
    own: list[tuple[Node, Node]] = []
    merged: list[tuple[Node, Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, MappingNode):
                    raise YamlProblem(source.start_mark.line + 1, "`<<` must merge a mapping")
                merged.extend(_flatten(source))
        else:
            own.append((key_node, value_node))
    own_keys = {k.value for k, _ in own if isinstance(k, ScalarNode)}
    seen: set[str] = set()
    result = list(own)
    for key_node, value_node in merged:
        name = key_node.value if isinstance(key_node, ScalarNode) else None
        if name in own_keys or name in seen:
            continue
        if name is not None:
            seen.add(name)
        result.append((key_node, value_node))
    return result


def plain(located: Located) -> Any:
    """Back to plain Python values (for places that need no lines)."""
    value = located.value
    if isinstance(value, dict):
        return {k: plain(e.value) for k, e in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
