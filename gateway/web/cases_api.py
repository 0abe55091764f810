"""Cases over HTTP (agents and ops): open one on a conversation, list and read them, and
each step — progress, extension, merchant party, resolution; statistics for ops.

An agent sees and works on the cases of conversations they may read (the read scope of
``gateway.web.read_scope``: a queue their skills serve, assigned to them, no queue, or
they took part in it) or that hold a case step of theirs; ops see all. 404 for the others,
as for a case that does not exist.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from gateway.cases.context import Actor
from gateway.cases.service import CASES, Cases, Listing
from gateway.cases.stages import STAGES
from gateway.cases.stats import to_csv
from gateway.cases.steps import end_of
from gateway.errors import RequestRejected
from gateway.identity import InvalidIdentity, normalize_email
from gateway.storage.case_records import CaseRecord
from gateway.web.auth import Principal, require
from gateway.web.case_views import case_summary, case_view
from gateway.web.conversation_api import _body as read_body
from gateway.web.read_scope import ReadScope
from gateway.web.views import ok
from gateway.wiring.services import SERVICES

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=r"\S")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenCaseBody(Strict):
    conversation_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=r"\S")]


class ProgressBody(Strict):
    note: Text
    stage: Literal["received", "investigating", "waiting_third_party", "resolved", "closed"] | None = None
    internal: bool = False
    eta: datetime | date | None = None


class ExtendBody(Strict):
    until: datetime | date
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=r"\S")]


class PartyBody(Strict):
    kind: Literal["merchant"]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Annotated[str, StringConstraints(min_length=3, max_length=254)]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return normalize_email(value)
        except InvalidIdentity:
            raise ValueError("is not an email address") from None


class ResolveBody(Strict):
    resolution: Text


def _cases(request: web.Request) -> Cases:
    cases = request.app.get(CASES)
    if cases is None:
        raise RequestRejected(404, "cases_off", "cases are not configured (cases.file)")
    return cases


def _actor(principal: Principal) -> Actor:
    return Actor(principal.agent, agent=True) if principal.agent else Actor("ops")


async def _may_read(request: web.Request, scope: ReadScope, case: CaseRecord) -> bool:
    """The read scope of its conversation (``gateway.web.read_scope``: its queue, assigned,
    took part, or ``agent_read_scope: all``), or a case step of the agent's own."""
    if scope.read_all:
        return True
    conv = await request.app[SERVICES].store.get_conversation(case.conversation_id)
    if conv is not None and scope.allows(conv):  # no conversation to judge by: ops only
        return True
    return any(e.get("by") == scope.principal.agent for e in case.timeline)


async def _readable(request: web.Request, principal: Principal) -> CaseRecord:
    case = await _cases(request).get(request.match_info["number"])
    if case is None or not await _may_read(request, ReadScope(request, principal), case):
        raise RequestRejected(404, "not_found", "no such case")
    return case


def _view(request: web.Request, case: CaseRecord, status: int = 200) -> web.Response:
    cases = _cases(request)
    return ok(case_view(case, cases.ctx.workflow(), cases.ctx.now_ms()), status=status)


async def open_case(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    body = await read_body(request, OpenCaseBody)
    cases = _cases(request)
    ReadScope(request, principal).require(await request.app[SERVICES].store.get_conversation(body.conversation_id))
    case = await cases.opening.open(body.conversation_id, body.category, body.summary, _actor(principal))
    return _view(request, case, status=201)


async def list_cases(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    cases = _cases(request)
    stage = request.query.get("stage")
    if stage is not None and stage not in STAGES:
        raise RequestRejected(400, "bad_request", f"stage must be one of {', '.join(STAGES)}")
    overdue = request.query.get("overdue", "false")
    if overdue not in ("true", "false", "1", "0"):
        raise RequestRejected(400, "bad_request", "overdue must be true or false")
    raw_limit = request.query.get("limit", "50")
    if not raw_limit.isascii() or not raw_limit.isdigit() or len(raw_limit) > 6:
        raise RequestRejected(400, "bad_request", "limit must be an integer")
    limit = int(raw_limit)
    if not 1 <= limit <= 500:
        raise RequestRejected(400, "bad_request", "limit must be between 1 and 500")
    query = Listing(
        stage=stage,
        category=request.query.get("category") or None,
        overdue=overdue in ("true", "1"),
        contact_id=request.query.get("contact_id") or None,
        limit=limit,
    )
    scope = ReadScope(request, principal)
    found = [c for c in await cases.list(query) if await _may_read(request, scope, c)]
    workflow, now = cases.ctx.workflow(), cases.ctx.now_ms()
    return ok({"cases": [case_summary(c, workflow, now) for c in found]})


async def get_case(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    return _view(request, await _readable(request, principal))


async def progress(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    body = await read_body(request, ProgressBody)
    case = await _readable(request, principal)
    steps = _cases(request).steps
    updated = await steps.progress(
        case.number, _actor(principal), note=body.note, stage=body.stage, internal=body.internal, eta=body.eta
    )
    return _view(request, updated)


async def extend(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    body = await read_body(request, ExtendBody)
    case = await _readable(request, principal)
    updated = await _cases(request).steps.extend(case.number, _actor(principal), until=body.until, reason=body.reason)
    return _view(request, updated)


async def add_party(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    body = await read_body(request, PartyBody)
    case = await _readable(request, principal)
    updated = await _cases(request).steps.add_party(case.number, _actor(principal), name=body.name, email=body.email)
    return _view(request, updated, status=201)


async def resolve(request: web.Request) -> web.Response:
    principal = require(request, "agent", "ops")
    body = await read_body(request, ResolveBody)
    case = await _readable(request, principal)
    updated = await _cases(request).steps.resolve(case.number, _actor(principal), resolution=body.resolution)
    return _view(request, updated)


def _period(request: web.Request, cases: Cases) -> tuple[int, int]:
    """``from`` and ``to`` as dates (whole days in the workflow's time zone, ``to``
    included) or date-times (``to`` excluded); by default the last 30 days."""
    workflow, now = cases.ctx.workflow(), cases.ctx.now_ms()

    def parse(name: str) -> datetime | date | None:
        raw = request.query.get(name)
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw) if "T" in raw else date.fromisoformat(raw)
        except ValueError:
            raise RequestRejected(400, "bad_request", f"{name} must be a date (2026-01-31) or ISO 8601 time") from None
        if not 1970 <= value.year <= 2999:  # day arithmetic near year 1 or 9999 overflows
            raise RequestRejected(400, "bad_request", f"{name} must be from 1970 to 2999")
        return value

    start, end = parse("from"), parse("to")
    to_ms = now if end is None else end_of(end, workflow) + (1 if not isinstance(end, datetime) else 0)
    if start is None:
        from_ms = to_ms - int(timedelta(days=30).total_seconds() * 1000)
    elif isinstance(start, datetime):
        from_ms = end_of(start, workflow)
    else:
        from_ms = end_of(start - timedelta(days=1), workflow) + 1
    if from_ms >= to_ms:
        raise RequestRejected(400, "bad_request", "from must be before to")
    return from_ms, to_ms


async def workflow(request: web.Request) -> web.Response:
    """What a form needs to offer: the categories with their names and deadlines, the
    stages with their names (the console's case views)."""
    require(request, "agent", "ops")
    current = _cases(request).ctx.workflow()
    return ok(
        {
            "number_prefix": current.number_prefix,
            "timezone": current.timezone,
            "categories": {
                cid: {
                    "name": c.name.model_dump(),
                    "kind": c.kind,
                    "queue": c.queue,
                    "first_update_within_seconds": c.first_update_within,
                    "resolve_within_seconds": c.resolve_within,
                    "max_resolve_within_seconds": c.max_resolve_within,
                }
                for cid, c in current.categories.items()
            },
            "stages": {stage: current.stage_names[stage].model_dump() for stage in STAGES},
        }
    )


async def case_stats(request: web.Request) -> web.Response:
    require(request, "ops")
    cases = _cases(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise RequestRejected(400, "bad_request", "format must be json or csv")
    from_ms, to_ms = _period(request, cases)
    data = await cases.stats(from_ms, to_ms)
    period = {
        "from": datetime.fromtimestamp(from_ms / 1000, UTC).isoformat(),
        "to": datetime.fromtimestamp(to_ms / 1000, UTC).isoformat(),
    }
    if fmt == "csv":
        name = f"cases-{period['from'][:10]}-{period['to'][:10]}.csv"
        return web.Response(
            body=("\ufeff" + to_csv(data)).encode("utf-8"),  # a BOM, so spreadsheet programs read the Chinese
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return ok({**period, **data})


routes = [
    web.post("/api/v1/cases", open_case),
    web.get("/api/v1/cases", list_cases),
    web.get("/api/v1/cases/stats", case_stats),
    web.get("/api/v1/cases/workflow", workflow),
    web.get("/api/v1/cases/{number}", get_case),
    web.post("/api/v1/cases/{number}/progress", progress),
    web.post("/api/v1/cases/{number}/extend", extend),
    web.post("/api/v1/cases/{number}/parties", add_party),
    web.post("/api/v1/cases/{number}/resolve", resolve),
]
