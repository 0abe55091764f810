"""Shutting down without losing anything: intake stops first.

Once SIGTERM arrives, webhooks answer 503 with ``Retry-After`` (providers send them again,
to this or another process) while requests already running finish and the outbox drains.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.web.errors import json_error
from gateway.wiring.services import SERVICES


@web.middleware
async def intake_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.app[SERVICES].stopping and request.path.startswith(("/webhooks/", "/webchat/")):
        return json_error(
            503,
            "shutting_down",
            "this gateway process is shutting down; send it again",
            headers={"Retry-After": "1", "Connection": "close"},
        )
    return await handler(request)
