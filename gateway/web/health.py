"""Liveness and readiness: ``/healthz`` answers while the process runs; ``/readyz``
only while storage and broker both answer (intake itself keeps working into the
outbox while only the broker is down)."""

from __future__ import annotations

from aiohttp import web

from gateway.web.views import ok
from gateway.wiring.services import SERVICES


async def healthz(request: web.Request) -> web.Response:
    return ok({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    storage = await services.store.ping()
    broker = services.publisher.ready()
    body = {
        "status": "ready" if storage and broker and not services.stopping else "not_ready",
        "storage": "ok" if storage else "unavailable",
        "broker": "ok" if broker else "unavailable",
    }
    if services.stopping:
        body["shutting_down"] = True
    return ok(body, status=200 if body["status"] == "ready" else 503)


routes = [web.get("/healthz", healthz), web.get("/readyz", readyz)]
