"""Ops endpoints for routing rules: read them, replace them live, try a message against them.

``PUT`` is all-or-nothing: the body is validated as a complete rules file, and only a valid
one is written (atomically) and swapped in; otherwise 422 lists every ``PATH:LINE`` problem
and the rules in force stay.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import RequestRejected, header_text, parse_json_body
from gateway.model import Channel
from gateway.routing.engine import RulesRouter
from gateway.routing.reload import LoadedRules
from gateway.routing.rules import RulesError, parse_rules_bytes
from gateway.routing.simulate import SimulationInputError, context_for, decision_json
from gateway.web.auth import require
from gateway.web.errors import json_error
from gateway.web.views import ok
from gateway.wiring.rules_watch import RULES
from gateway.wiring.services import SERVICES

log = logging.getLogger(__name__)

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
UTC_ZONE = ZoneInfo("UTC")
CHANNELS = tuple(c.value for c in Channel)


def _rules_view(loaded: LoadedRules, *, changed: bool | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": loaded.version,
        "loaded_at": loaded.loaded_at.isoformat(),
        "loaded_by": loaded.reason,
        "path": loaded.rules.path,
        "rules": len(loaded.rules.rules),
        "queues": list(loaded.rules.queues),
        "warnings": loaded.warnings,
        "yaml": loaded.rules.text,
    }
    if changed is not None:
        data["changed"] = changed
    return data


def _invalid(errors: list[str]) -> web.Response:
    count = len(errors)
    return json_error(
        422,
        "invalid_rules",
        f"the rules have {count} error{'s' if count != 1 else ''}; the rules in force are unchanged",
        errors=errors,
    )


async def get_rules(request: web.Request) -> web.Response:
    require(request, "ops")
    manager = request.app.get(RULES)
    if manager is None:
        router = request.app[SERVICES].router()
        return ok(
            {
                "version": router.version,
                "loaded_at": None,
                "loaded_by": None,
                "path": None,
                "rules": 0,
                "queues": router.queues(),
                "warnings": [],
                "yaml": None,
            }
        )
    loaded = manager.current
    if any(t in (header_text(request.headers, "Accept") or "") for t in YAML_TYPES):
        return web.Response(
            text=loaded.rules.text, content_type="application/yaml", headers={"X-Rules-Version": loaded.version}
        )
    return ok(_rules_view(loaded))


async def put_rules(request: web.Request) -> web.Response:
    require(request, "ops")
    manager = request.app.get(RULES)
    if manager is None:
        raise RequestRejected(
            409, "no_rules_file", "routing.rules is not set in the config, so there is no file to replace"
        )
    expected = (header_text(request.headers, "If-Match") or "").strip().strip('"')
    if expected and expected != manager.current.version:
        raise RequestRejected(
            412, "version_mismatch", f"the rules in force are version {manager.current.version}, not {expected}"
        )
    body = await request.read()
    try:
        loaded, changed = await manager.replace(body)
    except RulesError as exc:
        return _invalid(exc.errors)
    except OSError as exc:
        log.error("cannot write the rules file", extra={"error": exc.strerror or type(exc).__name__})
        return json_error(
            500,
            "rules_file_unwritable",
            f"cannot write {manager.path}: {exc.strerror}; the rules in force are unchanged",
        )
    log.info("routing rules replaced over the API", extra={"rules_version": loaded.version, "changed": changed})
    return ok(_rules_view(loaded, changed=changed))


def _compile_candidate(text: str) -> RulesRouter:
    return RulesRouter(rules=parse_rules_bytes(text.encode("utf-8", "surrogatepass"), path="rules"))


class SimulateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(json_schema_extra={"enum": [c.value for c in Channel]})
    text: str = ""
    subject: str | None = None
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra={"propertyNames": {"pattern": r"^(contact\.|attribute\.).|^(new_contact|language)$"}},
    )
    at: str | None = Field(default=None, description="ISO 8601, from 1970 to 2999; without an offset: the rules' zone")
    rules: str | None = None  # a candidate rules file to try instead of the rules in force


async def simulate(request: web.Request) -> web.Response:
    require(request, "ops")
    payload = SimulateRequest.model_validate(parse_json_body(await request.read()))
    if payload.channel not in CHANNELS:  # exactly as written: the CLI is the lenient one
        raise RequestRejected(
            422, "invalid", f"channel: unknown channel {payload.channel!r} (channels: {', '.join(CHANNELS)})"
        )
    manager = request.app.get(RULES)
    router: Any
    if payload.rules is not None:
        try:  # a big candidate file takes a while to compile: not on the event loop
            router = await asyncio.to_thread(_compile_candidate, payload.rules)
        except RulesError as exc:
            return _invalid(exc.errors)
        zone = router.rules.timezone
    elif manager is not None:
        router, zone = manager.current.router, manager.current.rules.timezone
    else:
        router, zone = request.app[SERVICES].router(), UTC_ZONE
    try:
        ctx = context_for(
            channel=payload.channel,
            text=payload.text,
            subject=payload.subject,
            attributes=payload.attributes,
            at=payload.at,
            zone=zone,
        )
    except SimulationInputError as exc:
        raise RequestRejected(422, "invalid", str(exc)) from None
    decision = router.decide(ctx, full_explanation=True) if isinstance(router, RulesRouter) else router.decide(ctx)
    return ok(decision_json(decision, ctx))


routes = [
    web.get("/api/v1/routing/rules", get_rules),
    web.put("/api/v1/routing/rules", put_rules),
    web.post("/api/v1/routing/simulate", simulate),
]
