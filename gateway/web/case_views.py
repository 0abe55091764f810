"""The JSON a case is shown as (API and console): times as ISO 8601, the category's name,
the deadlines in one place, and whether it is overdue now."""

from __future__ import annotations

from typing import Any

from gateway.cases.stages import OPEN_STAGES
from gateway.cases.timeline import iso
from gateway.cases.workflow import Workflow
from gateway.storage.case_records import CaseRecord

_TIME_FIELDS = ("at", "eta", "until", "previous", "due")


def deadlines(case: CaseRecord, now_ms: int) -> dict[str, Any]:
    is_open = case.stage in OPEN_STAGES
    return {
        "first_update_due_at": iso(case.first_update_due_ms),
        "first_update_at": iso(case.first_update_ms),
        "due_at": iso(case.due_ms),
        "original_due_at": iso(case.original_due_ms),
        "max_due_at": iso(case.max_due_ms),
        "eta": iso(case.eta_ms),
        "overdue": is_open and case.due_ms < now_ms,
        "first_update_overdue": is_open and case.first_update_ms is None and case.first_update_due_ms < now_ms,
    }


def case_summary(case: CaseRecord, workflow: Workflow, now_ms: int) -> dict[str, Any]:
    category = workflow.categories.get(case.category)
    return {
        "number": case.number,
        "category": case.category,
        "category_name": category.name.model_dump() if category else {"zh": case.category, "en": case.category},
        "kind": case.kind,
        "stage": case.stage,
        "summary": case.summary,
        "contact_id": case.contact_id,
        "conversation_id": case.conversation_id,
        "channel": case.channel,
        "language": case.language,
        "created_at": iso(case.created_ms),
        "created_by": case.created_by,
        "due_at": iso(case.due_ms),
        "deadlines": deadlines(case, now_ms),
        "extensions": case.extensions,
        "reopened": case.reopened,
        "last_note": case.last_note,
        "resolved_at": iso(case.resolved_ms),
        "resolved_by": case.resolved_by,
        "resolution": case.resolution,
        "on_time": case.on_time,
        "closed_at": iso(case.closed_ms),
    }


def entry_view(entry: dict[str, Any]) -> dict[str, Any]:
    view = dict(entry)
    for name in _TIME_FIELDS:
        if isinstance(view.get(name), int):
            view[name] = iso(view[name])
    view.setdefault("internal", False)
    return view


def case_view(case: CaseRecord, workflow: Workflow, now_ms: int) -> dict[str, Any]:
    """Everything about one case: its timeline, parties and conversations too."""
    parties = []
    for party in case.parties:
        view = {k: v for k, v in party.items() if k != "at"}
        view["added_at"] = iso(party.get("at"))
        view["conversation_id"] = case.party_conversations.get(int(party.get("index") or 0))
        parties.append(view)
    return {
        **case_summary(case, workflow, now_ms),
        "timeline": [entry_view(e) for e in case.timeline],
        "parties": parties,
        "conversations": case.conversations,
    }
