"""Bearer tokens with roles for ``/api/v1``: ops, or an agent with a name."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.config import AuthConfig
from gateway.errors import RequestRejected, header_text


@dataclass(frozen=True, slots=True)
class Principal:
    role: str  # "ops" or "agent"
    agent: str | None = None
    name: str | None = None  # display name (auth.tokens[].name), else the agent id


PRINCIPAL = web.RequestKey("principal", Principal)
# The console's socket authenticates in its first frame (browsers cannot set the header);
# the feedback form is for anyone (rate-limited).
PUBLIC_API_PATHS = frozenset({"/api/v1/openapi.json", "/api/v1/events/ws", "/api/v1/feedback"})


class TokenTable:
    def __init__(self, auth: AuthConfig) -> None:
        # Digests of equal length make every comparison take the same time.
        self._entries = [
            (hashlib.sha256(t.token.get_secret_value().encode()).digest(), Principal(role=t.role, agent=t.agent, name=t.name or t.agent))
            for t in auth.tokens
        ]

    def lookup(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for candidate, principal in self._entries:
            if hmac.compare_digest(candidate, digest):
                found = principal
        return found


def make_auth_middleware(tokens: TokenTable) -> Any:
    @web.middleware
    async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/v1/") and request.path not in PUBLIC_API_PATHS:
            problem = "a valid bearer token is required"
            try:
                header = header_text(request.headers, "Authorization", status=401) or ""
            except RequestRejected as exc:  # bytes that are not UTF-8 are no token
                header, problem = "", exc.message
            scheme, _, token = header.partition(" ")
            principal = tokens.lookup(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if principal is None:
                raise web.HTTPUnauthorized(text=problem, headers={"WWW-Authenticate": 'Bearer realm="gateway"'})
            request[PRINCIPAL] = principal
        return await handler(request)

    return auth_middleware


def require(request: web.Request, *roles: str) -> Principal:
    principal = request[PRINCIPAL]
    if principal.role not in roles:
        raise RequestRejected(403, "forbidden", f"this needs the {' or '.join(roles)} role")
    return principal
