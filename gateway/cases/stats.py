"""Case statistics for a period, by category (what the regulator asks for): the cases
received in ``[from, to)``, counted by stage; of those resolved, how many by their
deadline; the median time to resolve; extensions; open cases past their deadline.

Definitions:

* ``received`` — cases opened in the period; ``by_stage`` — where they stand now;
* ``resolved`` — of them, those resolved (closed ones included);
* ``on_time`` — resolved by the deadline in force when resolved (an extension, which the
  customer was told with its reason, moves it); ``within_original`` — resolved by the
  category's first deadline; ``on_time_rate`` = on_time ÷ resolved;
* ``median_hours_to_resolve`` — received → resolved, of the resolved ones;
* ``extended`` — cases extended at least once; ``extensions`` — extensions in all;
* ``overdue`` — still open and past their deadline now; ``reopened`` — reopened at least once.
"""

from __future__ import annotations

import csv
import io
import statistics
from typing import Any

from gateway.cases.stages import OPEN_STAGES, STAGES
from gateway.cases.workflow import Workflow
from gateway.storage.case_records import CaseRecord

COLUMNS = [
    "category",
    "name_zh",
    "name_en",
    "kind",
    "received",
    *STAGES,
    "resolved_total",
    "on_time",
    "within_original",
    "on_time_rate",
    "median_hours_to_resolve",
    "extended",
    "extensions",
    "reopened",
    "overdue",
]


def figures(cases: list[CaseRecord], now_ms: int) -> dict[str, Any]:
    resolved = [c for c in cases if c.resolved_ms is not None]
    on_time = sum(1 for c in resolved if c.on_time)
    hours = [(c.resolved_ms - c.created_ms) / 3_600_000 for c in resolved if c.resolved_ms is not None]
    return {
        "received": len(cases),
        "by_stage": {stage: sum(1 for c in cases if c.stage == stage) for stage in STAGES},
        "resolved": len(resolved),
        "on_time": on_time,
        "within_original": sum(1 for c in resolved if c.resolved_ms is not None and c.resolved_ms <= c.original_due_ms),
        "on_time_rate": round(on_time / len(resolved), 4) if resolved else None,
        "median_hours_to_resolve": round(statistics.median(hours), 2) if hours else None,
        "extended": sum(1 for c in cases if c.extensions),
        "extensions": sum(c.extensions for c in cases),
        "reopened": sum(1 for c in cases if c.reopened),
        "overdue": sum(1 for c in cases if c.stage in OPEN_STAGES and c.due_ms < now_ms),
    }


def summary(cases: list[CaseRecord], workflow: Workflow, now_ms: int) -> dict[str, Any]:
    """All cases, and per category (every category of the workflow, and any other the
    period's cases have, e.g. one since removed from the file)."""
    ids = list(workflow.categories) + sorted({c.category for c in cases} - set(workflow.categories))
    by_category = {}
    for category_id in ids:
        category = workflow.categories.get(category_id)
        by_category[category_id] = {
            "name": category.name.model_dump() if category else {"zh": category_id, "en": category_id},
            "kind": category.kind if category else next((c.kind for c in cases if c.category == category_id), ""),
            **figures([c for c in cases if c.category == category_id], now_ms),
        }
    return {**figures(cases, now_ms), "by_category": by_category}


def to_csv(data: dict[str, Any]) -> str:
    """One row per category, then ``all``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    rows = [(cid, c["name"]["zh"], c["name"]["en"], c["kind"], c) for cid, c in data["by_category"].items()]
    rows.append(("all", "全部", "all", "", data))
    for category_id, name_zh, name_en, kind, values in rows:
        writer.writerow(
            [
                category_id,
                name_zh,
                name_en,
                kind,
                values["received"],
                *[values["by_stage"][stage] for stage in STAGES],
                values["resolved"],
                values["on_time"],
                values["within_original"],
                "" if values["on_time_rate"] is None else values["on_time_rate"],
                "" if values["median_hours_to_resolve"] is None else values["median_hours_to_resolve"],
                values["extended"],
                values["extensions"],
                values["reopened"],
                values["overdue"],
            ]
        )
    return out.getvalue()
