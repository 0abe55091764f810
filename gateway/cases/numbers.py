"""Case numbers: ``<PREFIX>-<YYYYMMDD>-<NNNN>``, the date in the workflow's time zone and
the number from a per-day counter in the store (never reused), and finding them in a
customer's message however they typed them (lower case, full-width)."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from gateway.cases.workflow import Workflow


def stem(workflow: Workflow, now_ms: int) -> str:
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(workflow.zone)
    return f"{workflow.number_prefix}-{local:%Y%m%d}"


def pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}\s*-\s*(\d{{8}})\s*-\s*(\d{{4,9}})(?!\d)", re.IGNORECASE)


def numbers_in(text: str, workflow: Workflow, *, limit: int = 3) -> list[str]:
    """The case numbers a text names, as stored (upper case, no spaces), first ``limit``."""
    found: list[str] = []
    normal = unicodedata.normalize("NFKC", text or "")
    for match in pattern(workflow.number_prefix).finditer(normal):
        number = f"{workflow.number_prefix}-{match.group(1)}-{match.group(2)}"
        if number not in found:
            found.append(number)
        if len(found) >= limit:
            break
    return found


def looks_like_number(value: str, workflow: Workflow) -> bool:
    return numbers_in(value, workflow, limit=1) == [value]
