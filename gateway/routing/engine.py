"""The compiled decision engine: ordered rules, first match wins, every step explained.

Compiled once per rules version, so a decision costs about the same for 50 or 5,000 rules:

* one Aho–Corasick automaton holds every keyword of every rule, and a message's text is
  scanned once (its subject once more) for the set of keywords present. The automaton runs
  over the UTF-8 bytes (as Latin-1 text): pyahocorasick finds a node's child by a linear
  search, and thousands of Chinese keywords give the root thousands of children, while
  bytes give it a few dozen. A UTF-8 keyword can only match at character boundaries, so
  the matches are the same;
* each rule is indexed per channel: a rule whose ``channel`` excludes the message's
  channel, whose first keyword group has no keyword present, or (for a rule without
  keywords) whose first ``contact.``/``attribute.`` condition does not hold, fails without
  being looked at, and its explanation line was written at compile time. Only the rules
  left are evaluated;
* language and business hours are worked out at most once per decision.

The explanation has a line for every rule before the one that matched. Rules the index
ruled out cost nothing to explain (their lines are shared strings); a run of more than
``RUN_LIMIT`` of them is summed up in one line, so conversations routed by a rule set of
thousands do not each carry thousands of lines. Simulations ask for every line.

Decisions share the ``RouteTarget`` objects of the compiled rules; nothing changes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from operator import itemgetter
from typing import Any

import ahocorasick

from gateway.model import Channel, RouteTarget, RoutingContext, RoutingDecision
from gateway.routing import language
from gateway.routing.calendar import BusinessHours
from gateway.routing.rules import Condition, Rule, RuleSet, Target, attribute_value, fold

_SHOWN_LIMIT = 6
RUN_LIMIT = 20  # longer runs of rules the index ruled out are summed up in one explanation line
SUMMARY_CACHE = 4096  # the same runs recur message after message; remember their lines
_NO_HITS: frozenset[int] = frozenset()
_SECOND = itemgetter(1)  # (end, keyword id) → keyword id, in C
KEYWORD_KINDS = ("keywords", "all_keywords", "subject_keywords")


def format_duration(seconds: float) -> str:
    """90 → ``1m30s``; 7200 → ``2h``: durations the way the rules file writes them."""
    rest = round(seconds)
    if rest <= 0:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def _quote(items: Iterable[str], joiner: str = "or") -> str:
    items = list(items)
    shown = [f"'{item}'" for item in items[:_SHOWN_LIMIT]]
    if len(items) > _SHOWN_LIMIT:
        return ", ".join(shown) + f" … ({len(items)} in all)"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + f" {joiner} {shown[-1]}"


def _none_of(shown: Iterable[str], where: str) -> str:
    items = list(shown)
    if len(items) == 1:
        return f"'{items[0]}' is not in {where}"
    quoted = [f"'{item}'" for item in items[:_SHOWN_LIMIT]]
    more = f" … ({len(items)} in all)" if len(items) > _SHOWN_LIMIT else ""
    return f"none of {', '.join(quoted)}{more} in {where}"


def describe_targets(targets: Iterable[RouteTarget | Target]) -> str:
    """``payments-zh at priority 7; unclaimed after 10m → general at priority 7``."""
    parts = []
    waited = 0.0
    for position, target in enumerate(targets):
        step = f"{target.queue} at priority {target.priority}"
        parts.append(step if position == 0 else f"unclaimed after {format_duration(waited)} → {step}")
        if target.timeout is None:
            break
        waited += target.timeout
    return "; ".join(parts)


def _as_latin1(raw: bytes) -> str:
    """UTF-8 bytes as a str of code points 0–255, the alphabet the automaton is built on."""
    return raw.decode("latin-1")


_set = object.__setattr__
_DECISION_FIELDS = frozenset(RoutingDecision.model_fields)
_SET_BY_ENGINE = frozenset(
    {"queue", "priority", "skills", "rule", "targets", "rules_version", "explanation", "language"}
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


class _Facts:
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
                self._engine._scan(fold(subject).encode("utf-8", "surrogatepass")) if subject else _NO_HITS
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
            self._open = self._engine._is_open(self.ctx.at)
        return self._open

    def hours_text(self) -> str:
        return self._engine._hours_text(self.ctx.at)


# A check answers None when its condition holds, else why not (a short phrase).
Check = Callable[[_Facts], str | None]


class _CompiledRule:
    __slots__ = ("checks", "evidence", "matched", "name", "outcome", "rule", "skill_list", "skipped", "targets")

    def __init__(
        self, *, rule: Rule, checks: list[Check], evidence: list[Callable[[_Facts], str]], skills: list[str]
    ) -> None:
        self.rule = rule
        self.name = rule.name
        self.checks = checks  # the conditions the channel/keyword index has not settled already
        self.evidence = evidence
        self.matched = f"rule {rule.name}: matched ("
        self.targets = [RouteTarget(queue=t.queue, priority=t.priority, timeout=t.timeout) for t in rule.targets]
        self.skill_list = skills
        self.skipped = f"rule {rule.name}: skipped — "
        self.outcome = f"→ {describe_targets(self.targets)} (rule {rule.name})"


class _ChannelPlan:
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


class RulesRouter:
    """A ``Router`` over one validated ``RuleSet``; immutable, so swapping it is atomic."""

    def __init__(self, *, rules: RuleSet) -> None:
        self.rules = rules
        self.version = rules.version
        self._keyword_ids: dict[str, int] = {}
        self._keywords_shown: dict[int, str] = {}
        self._compiled: list[_CompiledRule] = []
        self._plans: dict[str, _ChannelPlan] = {channel: _ChannelPlan() for channel in Channel}
        for position, rule in enumerate(rules.rules):
            self._compile_rule(position, rule)
        self._hours_cache: tuple[int, bool, str] = (-1, False, "")
        self._automaton: Any = None
        if self._keyword_ids:
            automaton = ahocorasick.Automaton()
            for word, kid in self._keyword_ids.items():
                automaton.add_word(_as_latin1(word.encode("utf-8", "surrogatepass")), kid)
            automaton.make_automaton()
            self._automaton = automaton
        self._default_targets = [
            RouteTarget(queue=t.queue, priority=t.priority, timeout=t.timeout) for t in rules.defaults
        ]
        self._default_skills = self.queue_skills(rules.defaults[0].queue)
        self._default_outcome = f"→ no rule matched: defaults, {describe_targets(self._default_targets)}"

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

    # -- compiling ---------------------------------------------------------------------

    def _kid(self, word: str) -> int:
        """The automaton's id of a (folded) keyword, shared by every rule that uses it."""
        kid = self._keyword_ids.setdefault(word, len(self._keyword_ids))
        self._keywords_shown.setdefault(kid, word)
        return kid

    def _ids(self, words: tuple[str, ...]) -> frozenset[int]:
        return frozenset(self._kid(word) for word in words)

    def _compile_rule(self, position: int, rule: Rule) -> None:
        channel_condition = next((c for c in rule.conditions if c.kind == "channel"), None)
        group = next((c for c in rule.conditions if c.kind in KEYWORD_KINDS), None)
        # A rule without keywords is indexed by its first attribute condition, if any: the
        # message's attribute value then finds it (or not) with one dictionary lookup.
        by_attribute = (
            next((c for c in rule.conditions if c.kind in ("contact", "attribute")), None) if group is None else None
        )
        # The index settles the channel, and the keyword group or attribute that made the
        # rule a candidate; an all_keywords group still needs every keyword checked.
        settled = {id(channel_condition), id(by_attribute)}
        if group is not None and group.kind != "all_keywords":
            settled.add(id(group))
        checks = [self._check(c) for c in rule.conditions if id(c) not in settled]
        compiled = _CompiledRule(
            rule=rule,
            checks=checks,
            evidence=[self._evidence(c) for c in rule.conditions],
            skills=self.queue_skills(rule.targets[0].queue),
        )
        self._compiled.append(compiled)
        group_ids = self._ids(group.values) if group is not None else _NO_HITS
        if group is not None:
            where = "the subject" if group.kind == "subject_keywords" else "the text"
            not_candidate = f"{compiled.skipped}{group.key}: {_none_of(group.shown, where)}"
        elif by_attribute is not None:
            not_candidate = f"{compiled.skipped}{by_attribute.key} does not match {_quote(by_attribute.shown)}"
        for channel, plan in self._plans.items():
            excluded = channel_condition is not None and channel not in channel_condition.values
            plan.channel_excluded.append(plan.channel_excluded[-1] + excluded)
            plan.attribute_indexed.append(plan.attribute_indexed[-1] + (not excluded and by_attribute is not None))
            if excluded:
                assert channel_condition is not None
                wanted = _quote(channel_condition.shown)
                plan.skip_lines.append(f"{compiled.skipped}channel is '{channel}', wanted {wanted}")
            elif group is not None:
                plan.skip_lines.append(not_candidate)
                index = plan.subject_index if group.kind == "subject_keywords" else plan.text_index
                for kid in group_ids:
                    index.setdefault(kid, []).append(position)
            elif by_attribute is not None:
                plan.skip_lines.append(not_candidate)
                values = plan.attribute_index.setdefault((by_attribute.kind, by_attribute.attribute or ""), {})
                for value in by_attribute.values:
                    values.setdefault(value, []).append(position)
            else:
                plan.skip_lines.append("")
                plan.always.append(position)

    def _check(self, condition: Condition) -> Check:
        kind, key, values, shown = condition.kind, condition.key, condition.values, condition.shown
        wanted_text = _quote(shown)
        if kind == "channel":
            wanted = frozenset(values)

            def check_channel(f: _Facts) -> str | None:
                channel = f.ctx.channel
                return None if channel in wanted else f"channel is '{channel}', wanted {wanted_text}"

            return check_channel
        if kind == "language":
            wanted = frozenset(values)
            wanted_codes = _quote(values)

            def check_language(f: _Facts) -> str | None:
                code = f.language
                if code in wanted:
                    return None
                found = f"'{code}'" if code else "unknown"
                return f"language is {found} ({f.language_source}), wanted {wanted_codes}"

            return check_language
        if kind in ("keywords", "subject_keywords"):
            ids = self._ids(values)
            subject = kind == "subject_keywords"
            failure = f"{key}: {_none_of(shown, 'the subject' if subject else 'the text')}"

            def check_any(f: _Facts) -> str | None:
                hits = f.subject_hits if subject else f.text_hits
                if not hits.isdisjoint(ids):
                    return None
                if subject and not f.ctx.subject:
                    return f"{key}: there is no subject"
                return failure

            return check_any
        if kind == "all_keywords":
            ids = self._ids(values)
            by_id = {self._keyword_ids[v]: s for v, s in zip(values, shown, strict=True)}

            def check_all(f: _Facts) -> str | None:
                hits = f.text_hits
                if ids <= hits:
                    return None
                missing = [by_id[kid] for kid in sorted(ids - hits)]
                return f"{key}: {_quote(missing, 'and')} not in the text"

            return check_all
        if kind == "regex":
            patterns = values
            failure = f"regex: {wanted_text} does not match the text"

            def check_regex(f: _Facts) -> str | None:
                text = f.ctx.text
                return None if any(p.search(text) for p in patterns) else failure

            return check_regex
        if kind in ("contact", "attribute"):
            wanted = frozenset(values)
            name = condition.attribute or ""
            from_contact = kind == "contact"
            unset = f"{key} is not set, wanted {wanted_text}"

            def check_attribute(f: _Facts) -> str | None:
                actual = (f.ctx.contact_attributes if from_contact else f.ctx.attributes).get(name)
                if actual is None:
                    return unset
                if actual.__class__ is str and actual.isascii():  # the common case, without the calls
                    if actual.strip().lower() in wanted:
                        return None
                    return f"{key} is '{actual}', wanted {wanted_text}"
                if isinstance(actual, list | tuple | set | frozenset):
                    have = [attribute_value(a) for a in actual if not isinstance(a, dict | list)]
                    if not wanted.isdisjoint(have):
                        return None
                    return f"{key} has {_quote(have, 'and') if have else 'nothing'}, wanted {wanted_text}"
                if not isinstance(actual, dict) and attribute_value(actual) in wanted:
                    return None
                return f"{key} is '{actual}', wanted {wanted_text}"

            return check_attribute
        if kind == "business_hours":
            want_open = bool(values[0])

            def check_hours(f: _Facts) -> str | None:
                if f.business_open == want_open:
                    return None
                state = "inside" if f.business_open else "outside"
                return f"{state} business hours ({f.hours_text()}), wanted {'inside' if want_open else 'outside'}"

            return check_hours
        if kind == "new_contact":
            want_new = bool(values[0])

            def check_new(f: _Facts) -> str | None:
                if f.ctx.new_contact == want_new:
                    return None
                return "returning contact, wanted a new one" if want_new else "new contact, wanted a returning one"

            return check_new
        raise ValueError(f"no check for condition kind {kind!r}")  # the loader refuses unknown keys

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

    def _is_open(self, at: datetime) -> bool:
        return self._hours(at)[1]

    def _hours_text(self, at: datetime) -> str:
        return self._hours(at)[2]

    def _scan(self, raw: bytes) -> frozenset[int] | set[int]:
        if self._automaton is None or not raw:
            return _NO_HITS
        return set(map(_SECOND, self._automaton.iter(raw.decode("latin-1"))))

    def _evidence(self, condition: Condition) -> Callable[[_Facts], str]:
        """What a matched rule's condition found, for the "matched (...)" line."""
        kind, key = condition.kind, condition.key
        if kind in KEYWORD_KINDS:
            pairs = [(self._kid(v), s) for v, s in zip(condition.values, condition.shown, strict=True)]
            subject = kind == "subject_keywords"
            prefix = f"{key}: "

            def keywords_found(f: _Facts) -> str:
                hits = f.subject_hits if subject else f.text_hits
                return prefix + ", ".join([shown for kid, shown in pairs if kid in hits])

            return keywords_found
        if kind == "channel":
            return lambda f: f"channel: {f.ctx.channel}"
        if kind == "language":
            return lambda f: f"language: {f.language} ({f.language_source})"
        if kind == "regex":

            def regex_found(f: _Facts) -> str:
                for pattern in condition.values:
                    match = pattern.search(f.ctx.text)
                    if match:
                        return f"regex: /{pattern.pattern}/ found '{match.group(0)[:40]}'"
                return "regex"

            return regex_found
        if kind in ("contact", "attribute"):
            name = condition.attribute or ""
            from_contact = kind == "contact"
            return lambda f: f"{key}: {(f.ctx.contact_attributes if from_contact else f.ctx.attributes).get(name)}"
        if kind == "business_hours":
            return lambda f: f"business_hours: {str(f.business_open).lower()} ({f.hours_text()})"
        return lambda f: f"new_contact: {str(f.ctx.new_contact).lower()}"

    def _skipped(self, plan: _ChannelPlan, start: int, stop: int, lines: list[str], full: bool) -> None:
        """The lines of rules ``start``..``stop - 1``, which the index ruled out."""
        if full or stop - start <= RUN_LIMIT:
            lines.extend(plan.skip_lines[start:stop])
            return
        summary = plan.summaries.get((start, stop))
        if summary is None:
            summary = self._summary(plan, start, stop)
            if len(plan.summaries) < SUMMARY_CACHE:
                plan.summaries[start, stop] = summary
        lines.append(summary)

    def _summary(self, plan: _ChannelPlan, start: int, stop: int) -> str:
        other_channel = plan.channel_excluded[stop] - plan.channel_excluded[start]
        other_attribute = plan.attribute_indexed[stop] - plan.attribute_indexed[start]
        no_keyword = stop - start - other_channel - other_attribute
        why = []
        if no_keyword:
            why.append(f"{no_keyword} with none of their keywords in the text")
        if other_attribute:
            why.append(f"{other_attribute} for other attribute values")
        if other_channel:
            why.append(f"{other_channel} for other channels")
        return (
            f"rules {self._compiled[start].name} … {self._compiled[stop - 1].name} ({stop - start} rules): "
            f"skipped — {', '.join(why)}"
        )

    @staticmethod
    def _attribute_candidates(plan: _ChannelPlan, ctx: RoutingContext) -> list[int]:
        found: list[int] = []
        for (kind, name), by_value in plan.attribute_index.items():
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

    def decide(self, ctx: RoutingContext, *, full_explanation: bool = False) -> RoutingDecision:
        """The decision for ``ctx``. A run of more than ``RUN_LIMIT`` rules the index ruled out
        shows as one line, so a big rule set does not store thousands of lines on every
        conversation; ``full_explanation`` (simulations) lists every rule."""
        text = ctx.text
        raw = fold(text).encode("utf-8", "surrogatepass") if text else b""
        hits = self._scan(raw)
        facts = _Facts(ctx, self, raw, hits)
        plan = self._plans[ctx.channel]
        candidates: Iterable[int]
        by_attribute = self._attribute_candidates(plan, ctx) if plan.attribute_index else None
        if hits or by_attribute or (plan.subject_index and ctx.subject):
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
            candidates = sorted(found)
        else:
            candidates = plan.always
        lines: list[str] = []
        compiled = self._compiled
        previous = 0
        for position in candidates:
            if position > previous:
                self._skipped(plan, previous, position, lines, full_explanation)
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
                return self._decision(rule.targets, rule.skill_list, rule.name, lines, facts)
            previous = position + 1
        if previous < len(compiled):
            self._skipped(plan, previous, len(compiled), lines, full_explanation)
        lines.append(self._default_outcome)
        return self._decision(self._default_targets, self._default_skills, None, lines, facts)

    def _decision(
        self, targets: list[RouteTarget], skills: list[str], rule: str | None, lines: list[str], facts: _Facts
    ) -> RoutingDecision:
        first = targets[0]
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
            }
        )
