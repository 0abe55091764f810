"""The compiled decision engine: ordered rules, first match wins, every step explained.

Compiled once per rules version, so a decision costs about the same for 50 or 5,000 rules:

* ``keywords``: one Aho–Corasick automaton holds every keyword of every rule, and a
  message's text is scanned once (its subject once more) for the set of keywords present;
* ``plans``: each rule is indexed per channel, by its channel, first keyword group or first
  attribute condition, so only the rules a message can match are evaluated, and the
  explanation lines of the others were written at compile time;
* ``conditions``: each condition compiled into a check (why it fails) and its evidence
  (what it found);
* ``rules_router``: ``RulesRouter``, which decides; ``explain``: the wording of it all.
"""

from gateway.routing.engine.explain import describe_targets, format_duration
from gateway.routing.engine.plans import RUN_LIMIT, SUMMARY_CACHE
from gateway.routing.engine.rules_router import RulesRouter

__all__ = ["RUN_LIMIT", "SUMMARY_CACHE", "RulesRouter", "describe_targets", "format_duration"]
