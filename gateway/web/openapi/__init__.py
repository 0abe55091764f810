"""The OpenAPI 3.1 document at ``/api/v1/openapi.json``.

Component schemas (``schemas``) come from the pydantic models the handlers use, so the
document cannot drift from the code; a test checks that every route the app serves is
described here. The paths are described per area, one module each: ``operations``,
``conversations``, ``cases``, ``console``, ``routing``, ``webhooks`` and ``webchat``, built from the
blocks in ``parts``. A new route goes into its area's ``paths()``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from gateway.web.openapi import (
    cases,
    console,
    conversations,
    links,
    operations,
    reports,
    routing,
    verification,
    webchat,
    webhooks,
)
from gateway.web.openapi.schemas import components
from gateway.web.views import ok

AREAS = (operations, conversations, verification, cases, console, routing, webhooks, webchat, reports)


@cache
def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for area in AREAS:
        paths.update(area.paths())
    links.add_links(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Omnichannel message routing gateway",
            "version": "1",
            "description": "Customer messages in from every channel; agents claim and answer them. "
            'Errors are {"error": {"code", "message"}}.',
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": components(),
        },
        "paths": paths,
    }


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(path template, method) of every route ``app`` serves, HEAD and catch-alls aside."""
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method not in ("HEAD", "*") and path is not None:
            served.add((path, route.method.lower()))
    return served


def document_for(app: web.Application) -> dict[str, Any]:
    """The document of the running gateway: only the operations ``app`` serves, so a channel
    that is not configured has no paths in it (they would answer 404 to everything)."""
    served = served_routes(app)
    full = document()
    paths = {}
    for path, ops in full["paths"].items():
        kept = {method: op for method, op in ops.items() if (path, method) in served}
        if kept:
            paths[path] = kept
    return {**full, "paths": paths}


async def openapi_json(request: web.Request) -> web.Response:
    return ok(document_for(request.app))


routes = [web.get("/api/v1/openapi.json", openapi_json)]
