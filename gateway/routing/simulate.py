"""Trying a message against rules by hand: the input both the CLI and the HTTP API take,
and the output both print, written once so ``simulate --json`` and
``POST /api/v1/routing/simulate`` cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.model import Channel, RoutingContext, RoutingDecision
from gateway.routing.engine import format_duration

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
ATTRIBUTE_HELP = "contact.<name>, attribute.<name>, new_contact, verified or language"


class SimulationInputError(ValueError):
    """The person asking gave something we cannot simulate; the message says what."""


# Times a simulation takes: wide enough for any real question, narrow enough that business
# hours, holidays and timeouts computed from it cannot leave the calendar (year 1 or 9999).
YEARS = range(1970, 3000)


def parse_at(value: str | datetime | None, zone: ZoneInfo) -> datetime:
    """ISO-8601; a time without an offset is wall-clock time in the rules' time zone.
    Times before 1970 or after 2999 are refused."""
    if value is None or value == "":
        return datetime.now(UTC)
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise SimulationInputError(f"at: {value!r} is not an ISO-8601 time such as 2026-03-02T10:30") from None
    if parsed.year not in YEARS:  # as written, before its offset is applied
        raise SimulationInputError(f"at: {value!s} is out of range (use a time from 1970 to 2999)")
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def rfc3339(moment: datetime) -> str:
    """``moment`` as RFC 3339: an offset of whole minutes (a zone's old local mean time,
    such as +08:05:43, is written in UTC instead)."""
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() % 60:
        moment = moment.astimezone(UTC)
    return moment.isoformat()


def parse_channel(value: Any) -> Channel:
    try:
        return Channel(str(value).strip().lower())
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise SimulationInputError(f"channel: unknown channel {value!r} (channels: {known})") from None


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SimulationInputError(f"{key}: {value!r} is not true or false")


def context_for(
    *,
    channel: Any,
    text: str,
    zone: ZoneInfo,
    subject: str | None = None,
    attributes: Iterable[tuple[str, Any]] | Mapping[str, Any] = (),
    at: str | datetime | None = None,
) -> RoutingContext:
    """``attributes`` as the CLI's ``KEY=VALUE`` pairs or the API's mapping; a contact
    attribute given more than once becomes a list (``contact.tags``)."""
    pairs = attributes.items() if isinstance(attributes, Mapping) else attributes
    contact: dict[str, Any] = {}
    conversation: dict[str, Any] = {}
    new_contact = False
    verified = False
    hint = None
    for key, value in pairs:
        key = str(key).strip()
        if key.startswith("contact.") and len(key) > len("contact."):
            name = key[len("contact.") :]
            if name in contact:
                previous = contact[name] if isinstance(contact[name], list) else [contact[name]]
                contact[name] = [*previous, *(value if isinstance(value, list) else [value])]
            else:
                contact[name] = value
        elif key.startswith("attribute.") and len(key) > len("attribute."):
            conversation[key[len("attribute.") :]] = value
        elif key == "new_contact":
            new_contact = _flag(key, value)
        elif key == "verified":
            verified = _flag(key, value)
        elif key == "language":
            hint = None if value is None else str(value)
        else:
            raise SimulationInputError(f"unknown attribute {key!r}; use {ATTRIBUTE_HELP}")
    return RoutingContext(
        channel=parse_channel(channel),
        text=text or "",
        subject=subject or None,
        language_hint=hint,
        contact_attributes=contact,
        attributes=conversation,
        new_contact=new_contact,
        verified=verified,
        at=parse_at(at, zone),
    )


def decision_json(decision: RoutingDecision, ctx: RoutingContext) -> dict[str, Any]:
    """The one JSON shape of a simulated decision (CLI ``--json`` and the HTTP API)."""
    data = decision.model_dump(mode="json")
    data["at"] = rfc3339(ctx.at)
    return data


def render(decision: RoutingDecision, ctx: RoutingContext, zone: ZoneInfo) -> str:
    """The decision for a person at a terminal."""
    local = ctx.at.astimezone(zone)
    lines = [
        f"queue:     {decision.queue}",
        f"priority:  {decision.priority}",
        f"rule:      {decision.rule or '(none — defaults)'}",
        f"skills:    {', '.join(decision.skills) or '(none)'}",
        f"language:  {decision.language or 'unknown'}",
        *([f"open_case: {decision.open_case}"] if decision.open_case else []),
        *(["verification: required before the offer"] if decision.requires_verification else []),
        f"at:        {local.isoformat()} ({zone.key})",
        f"version:   {decision.rules_version}",
        "targets:",
    ]
    waited = 0.0
    for position, target in enumerate(decision.targets, start=1):
        start = "at once" if position == 1 else f"after {format_duration(waited)}"
        timeout = f", for {format_duration(target.timeout)}" if target.timeout else ""
        lines.append(f"  {position}. {target.queue} (priority {target.priority}) {start}{timeout}")
        waited += target.timeout or 0
    lines.append("explanation:")
    lines.extend(f"  {line}" for line in decision.explanation)
    return "\n".join(lines)
