"""Ops' reports over HTTP: agent performance and the team's figures
(``GET /api/v1/agents/stats``), and satisfaction surveys (``POST /api/v1/surveys``,
``GET /api/v1/surveys/{id}``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.cases.service import CASES, Listing
from gateway.errors import RequestRejected
from gateway.model import Channel
from gateway.reports.agent_stats import Period, collect
from gateway.storage.case_records import CaseRecord
from gateway.web.auth import require
from gateway.web.conversation_api import _body as read_body
from gateway.web.views import ok
from gateway.wiring.reports_setup import SURVEYS
from gateway.wiring.services import SERVICES

MAX_DAYS = 92
DEFAULT_DAYS = 7


def _zone(request: web.Request) -> ZoneInfo:
    name = request.query.get("tz")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia" is a directory
            raise RequestRejected(400, "bad_request", "tz must be an IANA time zone, e.g. Asia/Shanghai") from None
    hours = request.app[SERVICES].router().business_hours
    return hours.timezone if hours is not None else ZoneInfo("UTC")


def _when(raw: str, name: str) -> datetime | date:
    try:
        value = datetime.fromisoformat(raw) if "T" in raw else date.fromisoformat(raw)
    except ValueError:
        raise RequestRejected(400, "bad_request", f"{name} must be a date (2026-03-01) or an ISO 8601 time") from None
    if not 1970 <= value.year <= 2999:  # a day past 9999-12-31 or before year 1 overflows
        raise RequestRejected(400, "bad_request", f"{name} must be from 1970 to 2999")
    return value


def _ms(value: datetime | date, zone: ZoneInfo, *, end: bool) -> int:
    """A date is a whole day in ``zone`` (its end: the next midnight); a time is exact."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=zone)
        return int(aware.timestamp() * 1000)
    day = value + timedelta(days=1) if end else value
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def period_of(request: web.Request, start: str | None, stop: str | None) -> Period:
    zone = _zone(request)
    now = datetime.now(UTC).astimezone(zone).date()
    to_ms = _ms(_when(stop, "to"), zone, end=True) if stop else _ms(now, zone, end=True)
    from_ms = _ms(_when(start, "from"), zone, end=False) if start else to_ms - DEFAULT_DAYS * 86_400_000
    if from_ms >= to_ms:
        raise RequestRejected(400, "bad_request", "from must be before to")
    if to_ms - from_ms > MAX_DAYS * 86_400_000:
        raise RequestRejected(400, "bad_request", f"a period of at most {MAX_DAYS} days")
    return Period(from_ms=from_ms, to_ms=to_ms, zone=zone)


async def _resolved_cases(request: web.Request) -> list[CaseRecord]:
    cases = request.app.get(CASES)
    if cases is None:
        return []
    found: list[CaseRecord] = []
    for stage in ("resolved", "closed"):
        found += await cases.list(Listing(stage=stage, limit=500))
    return found


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def agent_stats(request: web.Request) -> web.Response:
    require(request, "ops")
    services = request.app[SERVICES]
    period = period_of(request, request.query.get("from"), request.query.get("to"))
    report = await collect(
        services.store, period, services.config.reply_tracking.target_for, await _resolved_cases(request)
    )
    return ok({"from": _iso(period.from_ms), "to": _iso(period.to_ms), "timezone": period.zone.key, **report})


class SurveyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_: Annotated[str, StringConstraints(min_length=10, max_length=40)] = Field(alias="from")
    to: Annotated[str, StringConstraints(min_length=10, max_length=40)]
    channels: list[Channel] | None = None
    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)] | None = None


async def start_survey(request: web.Request) -> web.Response:
    require(request, "ops")
    body = await read_body(request, SurveyBody)
    period = period_of(request, body.from_, body.to)
    status = await request.app[SURVEYS].start(
        from_ms=period.from_ms, to_ms=period.to_ms, channels=body.channels, question=body.question
    )
    return ok(status, status=202)


async def survey_status(request: web.Request) -> web.Response:
    require(request, "ops")
    status = await request.app[SURVEYS].status(request.match_info["survey_id"][:40])
    if status is None:
        raise RequestRejected(404, "not_found", "no such survey")
    return ok(status)


routes = [
    web.get("/api/v1/agents/stats", agent_stats),
    web.post("/api/v1/surveys", start_survey),
    web.get("/api/v1/surveys/{survey_id}", survey_status),
]
