"""Clients that never finish a request hold nothing: header and body read timeouts.

Headers: aiohttp closes a connection whose request has not fully arrived when its
keep-alive timer runs out — the timer starts when the connection opens and again after
each response, and data trickling in does not restart it. ``http.header_timeout`` is
that timer (``runner_options``), so ``GET / HTTP/1.1\\r\\nX-a: b`` and then silence is
closed after it, as is an idle keep-alive connection.

Bodies: a request whose body has not fully arrived ``http.body_timeout`` after its
headers is answered ``408`` and the connection closed (``read_body_in_time``). The body
is read once here and kept by aiohttp, so handlers read it again at no cost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from gateway.errors import RequestRejected

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def runner_options(header_timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``web.AppRunner`` (and aiohttp's test server)."""
    return {"keepalive_timeout": header_timeout}


def body_timeout_middleware(timeout: float) -> Any:
    @web.middleware
    async def read_body_in_time(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method in BODY_METHODS and request.can_read_body:
            try:
                await asyncio.wait_for(request.read(), timeout)
            except TimeoutError:
                exc = RequestRejected(408, "request_timeout", f"the request body did not arrive within {timeout:g} s")
                exc.headers = {"Connection": "close"}  # type: ignore[attr-defined]
                raise exc from None
        return await handler(request)

    return read_body_in_time
