"""The rules file (docs/routing.md, a contract) read into typed, checked objects.

Ops edit this file by hand and swap it into a running gateway, so loading is all-or-nothing:
every problem is collected (not just the first) and reported as ``PATH:LINE: message``,
and a file with any error never becomes a ``RuleSet``. Unknown keys are errors too — a
misspelt ``keyword:`` that silently matched everything would route real customers wrong.

* ``ruleset``: what a loaded file is (``RuleSet``, ``Rule``, ``Condition`` …) and how
  text compares (``fold``, ``attribute_value``);
* ``load``: file → text → YAML with lines (``yaml_lines``) → ``RuleSet``;
* ``reader``: the problems collected so far and the plain values sections are made of;
* ``sections``: timezone, business hours, skills, queues, agents;
* ``rule_list``: defaults and rules: conditions and targets.
"""

from gateway.routing.rules.load import load_rules, parse_rules, parse_rules_bytes
from gateway.routing.rules.ruleset import (
    KEYWORD_KINDS,
    Agent,
    Condition,
    Queue,
    Rule,
    RulesError,
    RuleSet,
    Target,
    attribute_value,
    fold,
    rules_version,
)

__all__ = [
    "KEYWORD_KINDS",
    "Agent",
    "Condition",
    "Queue",
    "Rule",
    "RuleSet",
    "RulesError",
    "Target",
    "attribute_value",
    "fold",
    "load_rules",
    "parse_rules",
    "parse_rules_bytes",
    "rules_version",
]
