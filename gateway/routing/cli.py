"""``gateway rules check`` and ``gateway rules simulate``: ops test rules before they go live.

Exit codes: 0 fine; 1 the rules are invalid (or, with ``--strict``, have warnings);
2 the command line itself is wrong. Problems print as ``PATH:LINE: message`` on stdout,
one per line, so editors and CI annotate them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.routing.engine import RulesRouter
from gateway.routing.lint import lint
from gateway.routing.rules import RulesError, load_rules
from gateway.routing.simulate import SimulationInputError, context_for, decision_json, render


def cmd_check(args: argparse.Namespace) -> int:
    path = str(args.path)
    try:
        rules = load_rules(args.path)
    except RulesError as exc:
        for error in exc.errors:
            print(error)
        print(f"{path}: {len(exc.errors)} error{'s' if len(exc.errors) != 1 else ''}", file=sys.stderr)
        return 1
    warnings = lint(rules)
    for warning in warnings:
        print(warning)
    if warnings and args.strict:
        print(f"{path}: {len(warnings)} warning{'s' if len(warnings) != 1 else ''} (--strict)", file=sys.stderr)
        return 1
    summary = (
        f"{path}: ok — {len(rules.rules)} rules, {len(rules.queues)} queues, {len(rules.agents)} agents, "
        f"version {rules.version}"
    )
    if warnings:
        summary += f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    print(summary)
    return 0


def _attributes(raw: list[str]) -> list[tuple[str, Any]]:
    pairs = []
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SimulationInputError(f"--attr {item!r}: write KEY=VALUE, e.g. contact.tier=vip")
        pairs.append((key.strip(), value))
    return pairs


def cmd_simulate(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules)
    except RulesError as exc:
        for error in exc.errors:
            print(error)
        return 1
    try:
        ctx = context_for(
            channel=args.channel,
            text=args.text,
            subject=args.subject,
            attributes=_attributes(args.attr),
            at=args.at,
            zone=rules.timezone,
        )
    except SimulationInputError as exc:
        print(f"gateway rules simulate: {exc}", file=sys.stderr)
        return 2
    decision = RulesRouter(rules=rules).decide(ctx, full_explanation=True)
    if args.json:
        print(json.dumps(decision_json(decision, ctx), ensure_ascii=False, indent=2))
    else:
        print(render(decision, ctx, rules.timezone))
    return 0


def add_rules_commands(sub: Any) -> None:
    """Register ``rules check`` and ``rules simulate`` on the top-level subparsers."""
    rules = sub.add_parser("rules", help="check and try routing rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)

    check = rules_sub.add_parser("check", help="validate a rules file; problems as PATH:LINE: message")
    check.add_argument("path", type=Path, help="the rules file, e.g. config/routing.yaml")
    check.add_argument("--strict", action="store_true", help="fail on lint warnings too")
    check.set_defaults(func=cmd_check)

    simulate = rules_sub.add_parser("simulate", help="route one message and explain the decision")
    simulate.add_argument("--rules", type=Path, required=True, help="the rules file")
    simulate.add_argument("--channel", required=True, help="api, email, sms, voice, webchat, whatsapp, ...")
    simulate.add_argument("--text", required=True, help="the message text")
    simulate.add_argument("--subject", default=None, help="email subject")
    simulate.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="contact.<name>=VALUE (repeat for a list), attribute.<name>=VALUE, new_contact=true, verified=true, language=zh",
    )
    simulate.add_argument("--at", default=None, help="ISO-8601 time; without an offset, in the rules' time zone")
    simulate.add_argument("--json", action="store_true", help="print the decision as one JSON object")
    simulate.set_defaults(func=cmd_simulate)
