"""Timeline entries and event payloads: the JSON a step writes, built in one place.

An entry records who did what when; ``internal`` entries are for the team only, and an
entry with ``customer_text`` holds, word for word, what the customer is sent (a
``case_notify`` timer sends it and appends ``customer_notified`` or ``customer_not_notified``).
Times inside entries are epoch milliseconds; the API shows them as ISO 8601.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from gateway.core.intake_hooks import AUTO_OPEN_CASE
from gateway.storage.case_records import CaseRecord

NOTIFY = "case_notify"  # timer: case_notify|<conversation>|<number>:<seq>
DUE_SOON = "case_due_soon"  # timer: case_due_soon|<number>|<deadline>:<due ms>
OVERDUE = "case_overdue"  # timer: case_overdue|<number>|<deadline>:<due ms>
CLOSE = "case_close"  # timer: case_close|<number>|<resolved ms>
PARTY_MAIL = "case_party_mail"  # timer: case_party_mail|<number>|<party>
PARTY_REPLY = "case_party_reply"  # timer: case_party_reply|<party conversation>|<number>:<digest>
ANSWER = "case_answer"  # timer: case_answer|<conversation>|<digest>:<status|not_found>:<numbers>
REOPEN = "case_reopen"  # timer: case_reopen|<conversation>|<number>:<message ms>
AUTO_OPEN = AUTO_OPEN_CASE  # timer: case_auto_open|<conversation>|<category> (a rule's open_case)

FIRST_UPDATE = "first_update"
RESOLVE = "resolve"


def entry(kind: str, *, at: int, by: str, **fields: Any) -> str:
    """One timeline entry as JSON (the store numbers it); empty fields are left out."""
    return json_object({"at": at, "kind": kind, "by": by, **{k: v for k, v in fields.items() if v is not None}})


def json_object(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def payload(event_type: str, case: CaseRecord | None = None, **fields: Any) -> str:
    """An event's body as Python knows it; the store adds number, seq, stage, the
    conversation and contact, and when it happened."""
    data: dict[str, Any] = {"type": event_type}
    if case is not None:
        data.update(category=case.category, kind=case.kind, channel=case.channel)
    data.update({k: v for k, v in fields.items() if v is not None})
    return json.dumps(data, ensure_ascii=False)


def notify_timer(conversation_id: str, now_ms: int) -> tuple[str, int]:
    return f"{NOTIFY}|{conversation_id}|{{number}}:{{seq}}", now_ms


def deadline_timers(deadline: str, due_ms: int, warn_ms: int) -> list[tuple[str, int]]:
    return [
        (f"{DUE_SOON}|{{number}}|{deadline}:{due_ms}", warn_ms),
        (f"{OVERDUE}|{{number}}|{deadline}:{due_ms}", due_ms),
    ]


def find_entry(case: CaseRecord, seq: int) -> dict[str, Any] | None:
    return next((e for e in case.timeline if e.get("seq") == seq), None)
