"""``GET /api/v1/stats``: ratings, self-service deflection and reply tracking in one place.

Every figure comes from the store's cluster-wide counters, so any gateway process answers
the same; the definitions are in ``gateway.selfservice.ratings.summary`` and
``gateway.selfservice.deflection.summary``.
"""

from __future__ import annotations

from aiohttp import web

from gateway.selfservice import deflection, ratings
from gateway.selfservice import service as self_service
from gateway.web.auth import require
from gateway.web.views import ok
from gateway.wiring.services import SERVICES


async def stats(request: web.Request) -> web.Response:
    require(request, "ops")
    services = request.app[SERVICES]
    counters = await services.store.stats()
    service = request.app.get(self_service.SELF_SERVICE)
    return ok(
        {
            "ratings": {"enabled": ratings.RATINGS in request.app, **ratings.summary(counters)},
            "self_service": {
                "enabled": service is not None,
                **deflection.summary(counters),
                "faq": service.library.status() if service is not None else None,
            },
            "reply_tracking": await services.reply_tracker.summary(),
        }
    )


routes = [web.get("/api/v1/stats", stats)]
