"""Per channel, which rules a message must be checked against, and the lines of the rest.

Each rule is indexed per channel: a rule whose ``channel`` excludes the message's channel,
whose first keyword group has no keyword present, or (for a rule without keywords) whose
first ``contact.``/``attribute.`` condition does not hold, fails without being looked at,
and its explanation line was written at compile time. Only the rules left are evaluated.

Rules the index ruled out cost nothing to explain (their lines are shared strings); a run
of more than ``RUN_LIMIT`` of them is summed up in one line, so conversations routed by a
rule set of thousands do not each carry thousands of lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import RouteTarget, RoutingContext
from gateway.routing.engine.conditions import Check, Evidence
from gateway.routing.engine.explain import describe_targets, none_of, quote
from gateway.routing.rules import KEYWORD_KINDS, Condition, Rule, attribute_value

RUN_LIMIT = 20  # longer runs of rules the index ruled out are summed up in one explanation line
SUMMARY_CACHE = 4096  # the same runs recur message after message; remember their lines


class CompiledRule:
    """A rule as a decision uses it: the checks left to run, and its explanation lines."""

    __slots__ = (
        "checks",
        "evidence",
        "matched",
        "name",
        "open_case",
        "outcome",
        "rule",
        "skill_list",
        "skipped",
        "targets",
    )

    def __init__(self, *, rule: Rule, checks: list[Check], evidence: list[Evidence], skills: list[str]) -> None:
        self.rule = rule
        self.name = rule.name
        self.checks = checks  # the conditions the channel/keyword index has not settled already
        self.evidence = evidence
        self.matched = f"rule {rule.name}: matched ("
        self.targets = [RouteTarget(queue=t.queue, priority=t.priority, timeout=t.timeout) for t in rule.targets]
        self.skill_list = skills
        self.skipped = f"rule {rule.name}: skipped — "
        self.open_case = rule.open_case
        self.outcome = f"→ {describe_targets(self.targets)} (rule {rule.name})"
        if rule.open_case:
            self.outcome += f"; opens a case: {rule.open_case}"


@dataclass(frozen=True, slots=True)
class RuleIndex:
    """How the index finds one rule: by channel, then by a keyword group or an attribute."""

    channels: Condition | None  # the rule's ``channel`` condition
    group: Condition | None  # its first keyword group
    attribute: Condition | None  # a rule without keywords: its first attribute condition

    @classmethod
    def of(cls, rule: Rule) -> RuleIndex:
        channels = next((c for c in rule.conditions if c.kind == "channel"), None)
        group = next((c for c in rule.conditions if c.kind in KEYWORD_KINDS), None)
        # A rule without keywords is indexed by its first attribute condition, if any: the
        # message's attribute value then finds it (or not) with one dictionary lookup.
        attribute = (
            next((c for c in rule.conditions if c.kind in ("contact", "attribute")), None) if group is None else None
        )
        return cls(channels, group, attribute)

    def settles(self, condition: Condition) -> bool:
        """Whether being a candidate proves ``condition`` already: the channel, and the
        keyword group or attribute that found the rule; an all_keywords group still
        needs every keyword checked."""
        if condition is self.channels or condition is self.attribute:
            return True
        return condition is self.group and condition.kind != "all_keywords"

    def not_candidate(self, skipped: str) -> str:
        """The explanation line of the rule when the index did not find it."""
        if self.group is not None:
            where = "the subject" if self.group.kind == "subject_keywords" else "the text"
            return f"{skipped}{self.group.key}: {none_of(self.group.shown, where)}"
        if self.attribute is not None:
            return f"{skipped}{self.attribute.key} does not match {quote(self.attribute.shown)}"
        return ""


class ChannelPlan:
    """For one channel: which rules must be evaluated, and the lines of those that need not."""

    __slots__ = (
        "always",
        "attribute_index",
        "attribute_indexed",
        "channel_excluded",
        "skip_lines",
        "subject_index",
        "summaries",
        "text_index",
    )

    def __init__(self) -> None:
        self.always: list[int] = []  # evaluated on every message of this channel
        self.text_index: dict[int, list[int]] = {}  # keyword id → rules that a hit makes candidates
        self.subject_index: dict[int, list[int]] = {}
        self.skip_lines: list[str] = []  # per rule: why it fails when it is no candidate
        self.channel_excluded: list[int] = [0]  # running count of rules for other channels
        # ("contact" | "attribute", name) → folded value → rules that value makes candidates
        self.attribute_index: dict[tuple[str, str], dict[str, list[int]]] = {}
        self.attribute_indexed: list[int] = [0]  # running count of rules indexed that way
        self.summaries: dict[tuple[int, int], str] = {}  # (first, stop) → its one-line summary

    def add_rule(
        self, channel: str, position: int, rule: CompiledRule, index: RuleIndex, group_ids: frozenset[int]
    ) -> None:
        """Index the rule at ``position`` (rules are added in order); ``group_ids`` are the
        keyword ids of its first keyword group."""
        channels, group, by_attribute = index.channels, index.group, index.attribute
        excluded = channels is not None and channel not in channels.values
        self.channel_excluded.append(self.channel_excluded[-1] + excluded)
        self.attribute_indexed.append(self.attribute_indexed[-1] + (not excluded and by_attribute is not None))
        if excluded:
            assert channels is not None
            self.skip_lines.append(f"{rule.skipped}channel is '{channel}', wanted {quote(channels.shown)}")
        elif group is not None:
            self.skip_lines.append(index.not_candidate(rule.skipped))
            by_keyword = self.subject_index if group.kind == "subject_keywords" else self.text_index
            for kid in group_ids:
                by_keyword.setdefault(kid, []).append(position)
        elif by_attribute is not None:
            self.skip_lines.append(index.not_candidate(rule.skipped))
            values = self.attribute_index.setdefault((by_attribute.kind, by_attribute.attribute or ""), {})
            for value in by_attribute.values:
                values.setdefault(value, []).append(position)
        else:
            self.skip_lines.append("")
            self.always.append(position)

    def attribute_candidates(self, ctx: RoutingContext) -> list[int]:
        """The rules the message's contact and conversation attribute values find."""
        found: list[int] = []
        for (kind, name), by_value in self.attribute_index.items():
            actual = (ctx.contact_attributes if kind == "contact" else ctx.attributes).get(name)
            if actual is None:
                continue
            if actual.__class__ is str and actual.isascii():  # the common case, without the calls
                rules = by_value.get(actual.strip().lower())
                if rules:
                    found.extend(rules)
                continue
            for value in actual if isinstance(actual, list | tuple | set | frozenset) else (actual,):
                if not isinstance(value, dict | list):
                    rules = by_value.get(attribute_value(value))
                    if rules:
                        found.extend(rules)
        return found

    def explain_ruled_out(self, start: int, stop: int, lines: list[str], full: bool, rules: list[CompiledRule]) -> None:
        """The lines of rules ``start``..``stop - 1``, which the index ruled out."""
        if full or stop - start <= RUN_LIMIT:
            lines.extend(self.skip_lines[start:stop])
            return
        summary = self.summaries.get((start, stop))
        if summary is None:
            summary = self._summary(start, stop, rules)
            if len(self.summaries) < SUMMARY_CACHE:
                self.summaries[start, stop] = summary
        lines.append(summary)

    def _summary(self, start: int, stop: int, rules: list[CompiledRule]) -> str:
        other_channel = self.channel_excluded[stop] - self.channel_excluded[start]
        other_attribute = self.attribute_indexed[stop] - self.attribute_indexed[start]
        no_keyword = stop - start - other_channel - other_attribute
        why = []
        if no_keyword:
            why.append(f"{no_keyword} with none of their keywords in the text")
        if other_attribute:
            why.append(f"{other_attribute} for other attribute values")
        if other_channel:
            why.append(f"{other_channel} for other channels")
        return f"rules {rules[start].name} … {rules[stop - 1].name} ({stop - start} rules): skipped — {', '.join(why)}"
