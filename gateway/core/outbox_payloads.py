"""Payload templates for outbox entries: the parts known before the atomic write.

The store adds ids, versions and times (see ``gateway.core.outbox.build_body``).
"""

from __future__ import annotations

import json
from typing import Any


def payload(event_type: str, **fields: Any) -> str:
    return json.dumps({"type": event_type, **fields}, ensure_ascii=False)


def offer_payload(*, channel: str, skills: list[str], rule: str | None, preview: str) -> str:
    return payload("conversation.offer", channel=channel, skills=skills, rule=rule, preview=preview[:140])
