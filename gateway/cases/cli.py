"""``gateway cases check PATH``: validate a workflow file before it goes live.

Exit 0 when valid; else 1, with one ``PATH:LINE: message`` per problem on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cases.workflow_file import WorkflowError, load_workflow


def cmd_check(args: argparse.Namespace) -> int:
    path = str(args.path)
    try:
        workflow = load_workflow(args.path)
    except WorkflowError as exc:
        for error in exc.errors:
            print(error)
        print(f"{path}: {len(exc.errors)} error{'s' if len(exc.errors) != 1 else ''}", file=sys.stderr)
        return 1
    kinds = sorted({c.kind for c in workflow.categories.values()})
    print(
        f"{path}: ok — prefix {workflow.number_prefix}, {len(workflow.categories)} categories "
        f"({', '.join(kinds)}), queues {', '.join(sorted(workflow.queues()))}"
    )
    return 0


def add_cases_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cases = sub.add_parser("cases", help="the complaints and feedback workflow")
    cases_sub = cases.add_subparsers(dest="cases_command", required=True)
    check = cases_sub.add_parser("check", help="validate a workflow file (PATH:LINE errors)")
    check.add_argument("path", type=Path)
    check.set_defaults(func=cmd_check)
