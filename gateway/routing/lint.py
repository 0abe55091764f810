"""Warnings about rules that load fine but cannot do what their author meant.

None of these stop a rules file from being used (an unstaffed queue may be staffed
tomorrow), so they are warnings: ``gateway rules check`` prints them and fails only with
``--strict``; the live reload logs them and the API shows them next to the rules.
"""

from __future__ import annotations

from gateway.routing.rules import Condition, Rule, RuleSet


def lint(rules: RuleSet) -> list[str]:
    """``PATH:LINE: warning: message`` lines, in file order."""
    found: list[tuple[int, str]] = []
    found += _shadowed(rules)
    found += _unservable_queues(rules)
    found += _unused_skills(rules)
    found += _unreachable_targets(rules)
    found.sort(key=lambda item: item[0])
    return [f"{rules.path}:{line}: warning: {message}" for line, message in found]


def _shadowed(rules: RuleSet) -> list[tuple[int, str]]:
    found = []
    for position, later in enumerate(rules.rules):
        for earlier in rules.rules[:position]:
            if _always_first(earlier, later):
                why = (
                    "it has no conditions" if not earlier.conditions else "its conditions hold whenever this rule's do"
                )
                found.append(
                    (
                        later.line,
                        f"rule {later.name!r} can never match: rule {earlier.name!r} (line {earlier.line}) "
                        f"comes first and always matches too ({why})",
                    )
                )
                break
    return found


def _always_first(earlier: Rule, later: Rule) -> bool:
    """True when every message ``later`` matches is matched by ``earlier`` as well."""
    return all(_implied(condition, later.conditions) for condition in earlier.conditions)


def _contains_any(word: str, needles: tuple[str, ...]) -> bool:
    return any(needle in word for needle in needles)


def _implied(wanted: Condition, given: tuple[Condition, ...]) -> bool:
    """Whether the conditions ``given`` all holding guarantees ``wanted`` holds."""
    kind = wanted.kind
    for condition in given:
        if kind == "keywords":
            # Any later keyword present means one of ours is present (keywords are substrings).
            if condition.kind == "keywords" and all(_contains_any(w, wanted.values) for w in condition.values):
                return True
            if condition.kind == "all_keywords" and any(_contains_any(w, wanted.values) for w in condition.values):
                return True
        elif kind == "all_keywords":
            if all(_keyword_guaranteed(k, given) for k in wanted.values):
                return True
        elif kind == "subject_keywords":
            if condition.kind == kind and all(_contains_any(w, wanted.values) for w in condition.values):
                return True
        elif kind == "regex":
            if condition.kind == kind and {p.pattern for p in condition.values} <= {p.pattern for p in wanted.values}:
                return True
        elif condition.key == wanted.key and set(condition.values) <= set(wanted.values):
            return True
    return False


def _keyword_guaranteed(keyword: str, given: tuple[Condition, ...]) -> bool:
    for condition in given:
        if condition.kind == "all_keywords" and any(keyword in w for w in condition.values):
            return True
        if condition.kind == "keywords" and all(keyword in w for w in condition.values):
            return True
    return False


def _unservable_queues(rules: RuleSet) -> list[tuple[int, str]]:
    found = []
    for queue in rules.queues.values():
        if rules.agents_for(queue.name):
            continue
        if not rules.agents:
            found.append((queue.line, f"queue {queue.name!r}: no agents are listed under `agents:` to serve it"))
            continue
        needs = ", ".join(f"{skill} ≥ {level}" for skill, level in queue.skills.items())
        found.append((queue.line, f"queue {queue.name!r}: no agent has the skills it needs ({needs})"))
    return found


def _unused_skills(rules: RuleSet) -> list[tuple[int, str]]:
    required = {skill for queue in rules.queues.values() for skill in queue.skills}
    return [
        (line, f"skill {skill!r} is declared but no queue requires it")
        for skill, line in rules.skills.items()
        if skill not in required
    ]


def _unreachable_targets(rules: RuleSet) -> list[tuple[int, str]]:
    found = []
    owners = [(f"rule {rule.name!r}", rule.targets) for rule in rules.rules]
    owners.append(("defaults", rules.defaults))
    for owner, targets in owners:
        for position, target in enumerate(targets, start=1):
            if target.timeout is None and position < len(targets):
                found.append(
                    (
                        targets[position].line,
                        f"{owner}: target {position + 1} is never reached: target {position} has no timeout",
                    )
                )
                break
            if target.timeout is not None and position == len(targets):
                found.append((target.line, f"{owner}: the last target has a timeout but no next target to escalate to"))
    return found
