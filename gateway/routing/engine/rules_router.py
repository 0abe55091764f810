"""``RulesRouter``: a rule set compiled once, deciding each message with every step explained.

A decision scans the message's text once (its subject once more) for the keywords of
every rule, asks the channel's plan which rules are candidates, and checks only those, in
order; the first whose checks all hold wins. Language and business hours are worked out at
most once per decision. The explanation has a line for every rule before the one that
matched (runs of ruled-out rules summed up, see ``plans``); simulations ask for every line.

Decisions share the ``RouteTarget`` objects of the compiled rules; nothing changes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from gateway.model import Channel, RouteTarget, RoutingContext, RoutingDecision
from gateway.routing import language
from gateway.routing.calendar import BusinessHours
from gateway.routing.engine.conditions import compile_condition, condition_evidence
from gateway.routing.engine.explain import describe_targets
from gateway.routing.engine.keywords import NO_HITS, SECOND, KeywordTable
from gateway.routing.engine.plans import ChannelPlan, CompiledRule, RuleIndex
from gateway.routing.rules import Rule, RuleSet, fold

_set = object.__setattr__
_DECISION_FIELDS = frozenset(RoutingDecision.model_fields)
_SET_BY_ENGINE = frozenset(
    {
        "queue",
        "priority",
        "skills",
        "rule",
        "targets",
        "rules_version",
        "explanation",
        "language",
        "open_case",
        "requires_verification",
    }
)
_OTHER_FIELDS = [(name, f) for name, f in RoutingDecision.model_fields.items() if name not in _SET_BY_ENGINE]


def _trusted_decision(values: dict[str, Any]) -> RoutingDecision:
    """A ``RoutingDecision`` from values checked when the rules were loaded.

    ``model_construct`` costs more than the rest of a decision together (it walks every
    field's aliases and defaults); this sets the same instance state directly. A test
    pins that the result equals a validated decision and round-trips through JSON.
    """
    for name, field in _OTHER_FIELDS:  # fields added to the model later keep their defaults
        values[name] = field.get_default(call_default_factory=True)
    decision = RoutingDecision.__new__(RoutingDecision)
    _set(decision, "__dict__", values)
    _set(decision, "__pydantic_fields_set__", set(_DECISION_FIELDS))
    _set(decision, "__pydantic_extra__", None)
    _set(decision, "__pydantic_private__", None)
    return decision


class MessageFacts:
    """What a decision knows about one message, each worked out at most once."""

    __slots__ = ("_engine", "_language", "_open", "_subject_hits", "ctx", "language_source", "raw", "text_hits")

    def __init__(self, ctx: RoutingContext, engine: RulesRouter, raw: bytes, text_hits: frozenset[int] | set[int]):
        self.ctx = ctx
        self._engine = engine
        self.raw = raw  # the folded text as UTF-8
        self.text_hits = text_hits
        self._subject_hits: frozenset[int] | set[int] | None = None
        self._language: str | bool | None = False  # False: not worked out yet
        self.language_source = ""
        self._open: bool | None = None

    @property
    def subject_hits(self) -> frozenset[int] | set[int]:
        if self._subject_hits is None:
            subject = self.ctx.subject
            self._subject_hits = (
                self._engine._scan(fold(subject).encode("utf-8", "surrogatepass")) if subject else NO_HITS
            )
        return self._subject_hits

    @property
    def language(self) -> str | None:
        if self._language is False:
            ctx = self.ctx
            given = ctx.contact_attributes.get("language")
            code = language.normalise(given) if given is not None else None
            if code is not None:
                self._language, self.language_source = code, "contact attribute"
            elif ctx.language_hint is not None and (code := language.normalise(ctx.language_hint)) is not None:
                self._language, self.language_source = code, "provider hint"
            else:
                self._language, self.language_source = language.detect_utf8(self.raw), "detected from the text"
        return self._language  # type: ignore[return-value]

    @property
    def business_open(self) -> bool:
        if self._open is None:
            self._open = self._engine._hours(self.ctx.at)[1]
        return self._open

    def hours_text(self) -> str:
        return self._engine._hours(self.ctx.at)[2]


class RulesRouter:
    """A ``Router`` over one validated ``RuleSet``; immutable, so swapping it is atomic."""

    def __init__(self, *, rules: RuleSet) -> None:
        self.rules = rules
        self.version = rules.version
        self._keywords = KeywordTable()
        self._compiled: list[CompiledRule] = []
        self._plans: dict[str, ChannelPlan] = {channel: ChannelPlan() for channel in Channel}
        for position, rule in enumerate(rules.rules):
            self._compile_rule(position, rule)
        self._hours_cache: tuple[int, bool, str] = (-1, False, "")
        self._automaton: Any = self._keywords.automaton()
        self._default_targets = [
            RouteTarget(queue=t.queue, priority=t.priority, timeout=t.timeout) for t in rules.defaults
        ]
        self._default_skills = self.queue_skills(rules.defaults[0].queue)
        self._default_outcome = f"→ no rule matched: defaults, {describe_targets(self._default_targets)}"
        self._verifying = frozenset(q.name for q in rules.queues.values() if q.requires_verification)

    def queues(self) -> list[str]:
        return list(self.rules.queues)

    @property
    def business_hours(self) -> BusinessHours | None:
        return self.rules.business_hours

    def queue_skills(self, queue: str) -> list[str]:
        found = self.rules.queues.get(queue)
        return list(found.skills) if found else []

    def agent_queues(self, agent: str) -> list[str]:
        return self.rules.queues_for(agent)

    def agent_capacity(self, agent: str) -> int:
        """From the rules' ``agents:``; 0 (no limit) for an agent the rules do not list."""
        found = self.rules.agents.get(agent)
        return found.capacity if found else 0

    def _compile_rule(self, position: int, rule: Rule) -> None:
        """Compile the checks the index does not settle, and index the rule for every channel."""
        keywords = self._keywords
        index = RuleIndex.of(rule)
        compiled = CompiledRule(
            rule=rule,
            checks=[compile_condition(c, keywords) for c in rule.conditions if not index.settles(c)],
            evidence=[condition_evidence(c, keywords) for c in rule.conditions],
            skills=self.queue_skills(rule.targets[0].queue),
        )
        self._compiled.append(compiled)
        group_ids = keywords.ids_of(index.group.values) if index.group is not None else NO_HITS
        for channel, plan in self._plans.items():
            plan.add_rule(channel, position, compiled, index, group_ids)

    # -- deciding ----------------------------------------------------------------------

    def _hours(self, at: datetime) -> tuple[int, bool, str]:
        """(minute, open?, description) for ``at``, remembered for its minute: time-zone
        arithmetic costs more than a rule check, intervals are whole minutes, and live
        traffic arrives minute by minute."""
        hours = self.rules.business_hours
        if hours is None:
            return (-1, False, "no business hours")
        if at.tzinfo is None:
            at = at.replace(tzinfo=hours.timezone)
        minute = int(at.timestamp() // 60)
        cached = self._hours_cache
        if cached[0] != minute:
            cached = self._hours_cache = (minute, hours.is_open(at), hours.describe(at))
        return cached

    def _scan(self, raw: bytes) -> frozenset[int] | set[int]:
        """The ids of the keywords in ``raw`` (folded text as UTF-8)."""
        if self._automaton is None or not raw:
            return NO_HITS
        return set(map(SECOND, self._automaton.iter(raw.decode("latin-1"))))

    def decide(self, ctx: RoutingContext, *, full_explanation: bool = False) -> RoutingDecision:
        """The decision for ``ctx``. A run of more than ``RUN_LIMIT`` rules the index ruled out
        shows as one line, so a big rule set does not store thousands of lines on every
        conversation; ``full_explanation`` (simulations) lists every rule."""
        text = ctx.text
        raw = fold(text).encode("utf-8", "surrogatepass") if text else b""
        hits = self._scan(raw)
        facts = MessageFacts(ctx, self, raw, hits)
        plan = self._plans[ctx.channel]
        lines: list[str] = []
        compiled = self._compiled
        previous = 0
        for position in self._candidates(plan, facts):
            if position > previous:
                plan.explain_ruled_out(previous, position, lines, full_explanation, compiled)
            rule = compiled[position]
            for check in rule.checks:
                failure = check(facts)
                if failure is not None:
                    lines.append(rule.skipped + failure)
                    break
            else:
                evidence = "; ".join([found(facts) for found in rule.evidence]) or "no conditions"
                lines.append(f"{rule.matched}{evidence})")
                lines.append(rule.outcome)
                return self._decision(rule.targets, rule.skill_list, rule.name, lines, facts, rule.open_case)
            previous = position + 1
        if previous < len(compiled):
            plan.explain_ruled_out(previous, len(compiled), lines, full_explanation, compiled)
        lines.append(self._default_outcome)
        return self._decision(self._default_targets, self._default_skills, None, lines, facts)

    @staticmethod
    def _candidates(plan: ChannelPlan, facts: MessageFacts) -> Iterable[int]:
        """The positions of the rules to evaluate, in order: those the channel always
        evaluates, and those a keyword (of the text or subject) or an attribute value finds."""
        ctx, hits = facts.ctx, facts.text_hits
        by_attribute = plan.attribute_candidates(ctx) if plan.attribute_index else None
        if not (hits or by_attribute or (plan.subject_index and ctx.subject)):
            return plan.always
        found = set(plan.always)
        if by_attribute:
            found.update(by_attribute)
        text_index = plan.text_index
        for kid in hits:
            rules = text_index.get(kid)
            if rules:
                found.update(rules)
        if plan.subject_index and ctx.subject:
            for kid in facts.subject_hits:
                rules = plan.subject_index.get(kid)
                if rules:
                    found.update(rules)
        return sorted(found)

    def _decision(
        self,
        targets: list[RouteTarget],
        skills: list[str],
        rule: str | None,
        lines: list[str],
        facts: MessageFacts,
        open_case: str | None = None,
    ) -> RoutingDecision:
        first = targets[0]
        verify = first.queue in self._verifying
        if verify:
            lines.append(
                f"queue {first.queue} requires verification: the customer is verified, offered at once"
                if facts.ctx.verified
                else f"queue {first.queue} requires verification: the customer is not verified, "
                "so the offer waits until a code sent to them is answered (or fails)"
            )
        return _trusted_decision(
            {
                "queue": first.queue,
                "priority": first.priority,
                "skills": list(skills),
                "rule": rule,
                "targets": list(targets),
                "rules_version": self.version,
                "explanation": lines,
                "language": facts.language,
                "open_case": open_case,
                "requires_verification": verify,
            }
        )
