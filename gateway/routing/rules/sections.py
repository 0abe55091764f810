"""Reading the sections that describe the support team: ``timezone``, ``business_hours``,
``skills``, ``queues`` and ``agents``."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.routing.calendar import DAYS, BusinessHours, Interval
from gateway.routing.rules.reader import Reader
from gateway.routing.rules.ruleset import MAX_LEVEL, MIN_LEVEL, Agent, Queue
from gateway.routing.rules.yaml_lines import Entry, Located

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def read_timezone(r: Reader, top: dict[str, Entry]) -> ZoneInfo | None:
    entry = top.get("timezone")
    if entry is None:
        return ZoneInfo("UTC")
    name = entry.value.value
    if not isinstance(name, str) or not name.strip():
        r.error(entry.value.line, "timezone must be a name such as Asia/Shanghai")
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia" is a directory
        r.error(entry.value.line, f"unknown timezone {name!r} (use an IANA name such as Asia/Shanghai)")
        return None


def read_skills(r: Reader, entry: Entry | None) -> dict[str, int]:
    if entry is None:
        return {}
    words = r.text_list(entry.value, "skills", allow_scalar=False)
    skills: dict[str, int] = {}
    for word, line in words or []:
        if word in skills:
            r.error(line, f"skill {word!r} is listed twice (first on line {skills[word]})")
        else:
            skills[word] = line
    return skills


def read_business_hours(r: Reader, entry: Entry | None, timezone: ZoneInfo | None) -> BusinessHours | None:
    if entry is None:
        return None
    section = r.mapping(entry.value, "business_hours")
    if section is None:
        return None
    r.unknown_keys(section, ("weekly", "holidays", "special_days"), "business_hours")
    if "weekly" not in section:
        r.error(entry.key_line, "business_hours: `weekly:` is missing")
    weekly = _weekly(r, section["weekly"]) if "weekly" in section else {}
    holidays = _holidays(r, section["holidays"]) if "holidays" in section else set()
    special = _special_days(r, section["special_days"], holidays) if "special_days" in section else {}
    if timezone is None:
        return None
    return BusinessHours(timezone=timezone, weekly=weekly, holidays=frozenset(holidays), special_days=special)


def _weekly(r: Reader, entry: Entry) -> dict[int, tuple[Interval, ...]]:
    weekly: dict[int, tuple[Interval, ...]] = {}
    for day, day_entry in (r.mapping(entry.value, "business_hours.weekly") or {}).items():
        if day not in DAYS:
            r.error(day_entry.key_line, f"business_hours.weekly: unknown day {day!r} (use {', '.join(DAYS)})")
            continue
        weekly[DAYS.index(day)] = r.intervals(day_entry.value, f"business_hours.weekly.{day}")
    return weekly


def _holidays(r: Reader, entry: Entry) -> set[date]:
    holidays: set[date] = set()
    for text, line in r.text_list(entry.value, "business_hours.holidays") or []:
        day = r.calendar_date(text, line, "business_hours.holidays")
        if day is not None:
            holidays.add(day)
    return holidays


def _special_days(r: Reader, entry: Entry, holidays: set[date]) -> dict[date, tuple[Interval, ...]]:
    special: dict[date, tuple[Interval, ...]] = {}
    for text, day_entry in (r.mapping(entry.value, "business_hours.special_days") or {}).items():
        day = r.calendar_date(text, day_entry.key_line, "business_hours.special_days")
        if day is None:
            continue
        if day in holidays:
            r.error(day_entry.key_line, f"business_hours: {text} is both a holiday and a special day")
        special[day] = r.intervals(day_entry.value, f"business_hours.special_days.{text}")
    return special


def read_skill_levels(r: Reader, located: Located, what: str, skills: dict[str, int]) -> dict[str, int]:
    """``[payments, chinese]`` (level 1 of each) or ``{payments: 3}``, of declared skills."""
    if located.value is None:
        return {}
    levels: dict[str, int] = {}
    if located.is_list:
        for word, line in r.text_list(located, what) or []:
            if word not in skills:
                r.error(line, f"{what}: unknown skill {word!r} (declare it under `skills:`)")
            levels[word] = MIN_LEVEL
        return levels
    entries = r.mapping(located, f"{what} (skill: level)")
    for skill, entry in (entries or {}).items():
        if skill not in skills:
            r.error(entry.key_line, f"{what}: unknown skill {skill!r} (declare it under `skills:`)")
        level = r.integer(entry.value, f"{what}.{skill} level", MIN_LEVEL, MAX_LEVEL)
        if level is not None:
            levels[skill] = level
    return levels


def read_queues(r: Reader, entry: Entry | None, skills: dict[str, int], doc_line: int) -> dict[str, Queue]:
    if entry is None:
        r.error(doc_line, "`queues:` is missing: name at least one queue")
        return {}
    section = r.mapping(entry.value, "queues")
    if section is not None and not section:
        r.error(entry.key_line, "queues: name at least one queue")
    queues: dict[str, Queue] = {}
    for name, q_entry in (section or {}).items():
        if not _QUEUE_NAME.match(name) or name.startswith("amq."):
            r.error(
                q_entry.key_line,
                f"bad queue name {name!r}: letters, digits and . _ : - only, at most 128, not starting with amq.",
            )
        body = r.mapping(q_entry.value, f"queue {name!r}", allow_null=True)
        required: dict[str, int] = {}
        verify = False
        if body is not None:
            r.unknown_keys(body, ("skills", "requires_verification"), f"queue {name!r}")
            if "skills" in body:
                required = read_skill_levels(r, body["skills"].value, f"queue {name!r} skills", skills)
            if "requires_verification" in body:
                located = body["requires_verification"].value
                if isinstance(located.value, bool):
                    verify = located.value
                else:
                    r.error(located.line, f"queue {name!r}: requires_verification must be true or false")
        queues[name] = Queue(name=name, skills=required, line=q_entry.key_line, requires_verification=verify)
    return queues


def read_agents(r: Reader, entry: Entry | None, skills: dict[str, int]) -> dict[str, Agent]:
    if entry is None:
        return {}
    section = r.mapping(entry.value, "agents", allow_null=True)
    agents: dict[str, Agent] = {}
    for name, a_entry in (section or {}).items():
        body = r.mapping(a_entry.value, f"agent {name!r}", allow_null=True) or {}
        r.unknown_keys(body, ("skills", "capacity"), f"agent {name!r}")
        levels = (
            read_skill_levels(r, body["skills"].value, f"agent {name!r} skills", skills) if "skills" in body else {}
        )
        capacity = 1
        if "capacity" in body:
            capacity = r.integer(body["capacity"].value, f"agent {name!r} capacity", 1, 1000) or 1
        agents[name] = Agent(name=name, skills=levels, capacity=capacity, line=a_entry.key_line)
    return agents
