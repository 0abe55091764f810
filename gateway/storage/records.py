"""Stored records (flat string hashes, as in Redis) to and from domain types.

The scripts and the plain reads see the same flat shape; this is the only Python that knows it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.model import (
    Attachment,
    Contact,
    Conversation,
    DeliveryStatus,
    Identity,
    IngestResult,
    Message,
    RoutingDecision,
)
from gateway.storage.base import Glance, OutboxEntry, Outcome, Prepared


def to_ms(value: datetime | None) -> int:
    return 0 if value is None else int(value.timestamp() * 1000)


def from_ms(value: str | int | None) -> datetime | None:
    if value in (None, "", "0", 0):
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def _int(value: str | None, default: int = 0) -> int:
    return int(value) if value not in (None, "") else default


def _iso(value: str | None) -> str | None:
    at = from_ms(value)
    return at.isoformat() if at is not None else None


def _str(value: str | None) -> str | None:
    return value or None


def decode_attrs(raw: dict[str, str]) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in raw.items()}


def conversation_from_record(h: dict[str, str], attrs: dict[str, str], flags: set[str] | list[str]) -> Conversation:
    routing = h.get("routing")
    first_ms = h.get("first_response_ms")
    return Conversation(
        id=h["id"],
        contact_id=h["contact_id"],
        channel=h["channel"],
        endpoint=h.get("endpoint", ""),
        status=h.get("status", "open"),
        subject=_str(h.get("subject")),
        created_at=from_ms(h["created_at"]),
        updated_at=from_ms(h.get("updated_at") or h["created_at"]),
        resolved_at=from_ms(h.get("resolved_at")),
        routing=RoutingDecision.model_validate_json(routing) if routing else None,
        routing_version=_int(h.get("routing_version")),
        target_index=_int(h.get("target_index")),
        queue=_str(h.get("queue")),
        priority=_int(h.get("priority"), 3),
        waiting_since=from_ms(h.get("waiting_since")),
        assignee=_str(h.get("assignee")),
        claimed_at=from_ms(h.get("claimed_at")),
        awaiting_since=from_ms(h.get("awaiting_since")),
        reply_by=from_ms(h.get("reply_by")),
        sla_state=h.get("sla_state") or "none",
        sla_breaches=_int(h.get("sla_breaches")),
        first_response_at=from_ms(h.get("first_response_at")),
        first_response_seconds=int(first_ms) / 1000 if first_ms else None,
        last_inbound_at=from_ms(h.get("last_inbound_at")),
        last_outbound_at=from_ms(h.get("last_outbound_at")),
        window_expires_at=from_ms(h.get("window_expires_at")),
        message_count=_int(h.get("message_count")),
        preview=_str(h.get("preview")),
        attributes=decode_attrs(attrs),
        flags=sorted(flags),
        participants=[a for a in (h.get("agents") or "").split("|") if a],
    )


def message_from_record(h: dict[str, str]) -> Message:
    """A stored message: immutable JSON plus the fields that change after writing."""
    message = Message.model_validate_json(h["json"])
    updates: dict[str, Any] = {"conversation_id": h.get("conversation_id", message.conversation_id)}
    if h.get("status"):
        updates["status"] = DeliveryStatus(h["status"])
    if h.get("error"):
        updates["error"] = h["error"]
    if h.get("external_id"):
        updates["external_id"] = h["external_id"]
    if h.get("attempts"):
        updates["attempts"] = int(h["attempts"])
    _amendments(message, h, updates)
    return message.model_copy(update=updates)


def _amendments(message: Message, h: dict[str, str], updates: dict[str, Any]) -> None:
    """The customer's edit (the latest text shown, the original kept in ``meta``) or
    deletion (flagged, the text kept for the record)."""
    flags, meta = list(message.flags), dict(message.meta)
    if h.get("edited_at"):
        updates["text"] = h.get("edited_text", "")
        if h.get("edited_attachments"):
            updates["attachments"] = [Attachment.model_validate(a) for a in json.loads(h["edited_attachments"])]
        meta["edit"] = {
            "original_text": message.text,
            "edited_at": _iso(h["edited_at"]),
            "edits": _int(h.get("edit_count"), 1),
        }
        flags.append("edited")
    if h.get("deleted_at"):
        meta["deleted_at"] = _iso(h["deleted_at"])
        flags.append("deleted")
    if flags != message.flags:
        updates["flags"] = list(dict.fromkeys(flags))
        updates["meta"] = meta


def contact_from_record(h: dict[str, str], attrs: dict[str, str], identities: set[str] | list[str]) -> Contact:
    return Contact(
        id=h["id"],
        name=h.get("name", ""),
        attributes=decode_attrs(attrs),
        identities=[Identity.from_key(k) for k in sorted(identities)],
        created_at=from_ms(h["created_at"]),
        merged_into=_str(h.get("merged_into")),
    )


def plan_json(plan: Any) -> str:
    """The plan as JSON for the Lua side; numbers as strings (Lua formats big ones badly)."""
    data = {}
    for name in plan.__slots__:
        value = getattr(plan, name)
        if isinstance(value, bool):
            data[name] = value
        elif isinstance(value, int):
            data[name] = str(value)
        elif hasattr(value, "__slots__"):
            data[name] = {n: getattr(value, n) for n in value.__slots__}
        else:
            data[name] = value
    return orjson.dumps(data).decode()


def duplicate_result(seen: str) -> IngestResult:
    """The answer to a redelivery, from the dedupe record ``conversation|message|contact``."""
    conversation_id, message_id, contact_id = seen.split("|")
    return IngestResult(conversation_id=conversation_id, message_id=message_id, contact_id=contact_id, duplicate=True)


def outbox_entry(entry_id: str, fields: dict[str, str]) -> OutboxEntry:
    return OutboxEntry(
        entry_id=entry_id,
        message_id=fields["mid"],
        exchange=fields["ex"],
        routing_key=fields["rk"],
        priority=int(fields["pr"]),
        payload=fields["payload"],
        fields=fields["fields"],
        created_ms=int(entry_id.split("-")[0]),
    )


# Replies of the conditional scripts: [reason, *details].


def claim_outcome(reply: list[str], conversation_id: str) -> Outcome:
    reason = reply[0]
    version = int(reply[1]) if len(reply) > 1 and reply[1] else None
    assignee = reply[2] if len(reply) > 2 and reply[2] not in ("", "already") else None
    return Outcome(
        ok=reason == "ok",
        reason="already" if reason == "ok" and len(reply) > 2 and reply[2] == "already" else reason,
        conversation_id=conversation_id,
        routing_version=version,
        assignee=assignee,
        waited_ms=int(reply[3]) if len(reply) > 3 and reply[3] else None,
    )


def version_outcome(reply: list[str], conversation_id: str) -> Outcome:
    version = int(reply[1]) if len(reply) > 1 and reply[1] else None
    return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id, routing_version=version)


def status_outcome(reply: list[str]) -> Outcome:
    if reply[0] == "unknown":
        return Outcome(ok=False, reason="unknown")
    return Outcome(
        ok=reply[0] == "ok", reason=reply[0], conversation_id=reply[1], message_id=reply[2], status=reply[3] or None
    )


def _pairs(flat: list[str] | dict[str, str]) -> dict[str, str]:
    """Redis HGETALL through cjson: a flat list, or an empty object (Redis) or empty list
    (fakeredis) for an empty hash."""
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[::2], flat[1::2], strict=True))


def prepared_result(raw: str | dict[str, Any]) -> Prepared:
    # An empty Lua table encodes as {} in Redis's cjson and as [] in fakeredis's.
    data = (orjson.loads(raw) if isinstance(raw, str) else raw) or {}
    if "duplicate" in data:
        return Prepared(duplicate=duplicate_result(data["duplicate"]))
    glance = None
    conv = data.get("conversation")
    if conv:
        flags = conv.get("flags") or []
        glance = Glance(
            id=conv["id"],
            status=conv["status"],
            assignee=conv.get("assignee") or None,
            offered=bool(conv.get("waiting_since")),
            resolved_at_ms=int(conv["resolved_at"]) if conv.get("resolved_at") else None,
            routing_version=int(conv.get("routing_version") or 0),
            flags=set(flags) if isinstance(flags, list) else set(),
            attributes=decode_attrs(_pairs(conv.get("attrs") or [])),
        )
    contact = data.get("contact")
    return Prepared(
        contact_id=contact,
        contact_attributes=decode_attrs(_pairs(data.get("attrs") or [])) if contact else None,
        conversation=glance,
    )
