"""The Official Account access token: fetched from ``/cgi-bin/token``, shared by every
send, refreshed shortly before it expires, and dropped when WeChat calls it invalid.

WeChat issues one token per app at a time (about 7,200 s) and caps how often it may be
fetched (2,000 a day), so fetching per send would soon lock the account out. One fetch at
a time (a lock), everyone else waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from gateway.channels.base import send_http

# Errors that mean "this token is no good": invalid credential, invalid token, expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Fetch errors no retry can fix: wrong app id or secret, server IP not on the whitelist.
FETCH_FINAL = {
    40002: "invalid grant_type",
    40013: "invalid app_id",
    40125: "invalid app_secret",
    40164: "this server's IP address is not on the Official Account's IP whitelist",
    41002: "app_id missing",
    41004: "app_secret missing",
}


class TokenUnavailable(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class AccessTokens:
    def __init__(
        self,
        *,
        api_base_url: str,
        app_id: str,
        app_secret: str,
        clock: Callable[[], float] = time.monotonic,
        margin: float = 300.0,
    ) -> None:
        self._url = f"{api_base_url.rstrip('/')}/cgi-bin/token"
        self._app_id = app_id
        self._app_secret = app_secret
        self._clock = clock
        self._margin = margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"AccessTokens(app_id={self._app_id!r}, cached={self._token is not None})"

    def _fresh(self) -> str | None:
        return self._token if self._token and self._clock() < self._expires_at else None

    async def get(self, http: aiohttp.ClientSession) -> str:
        token = self._fresh()
        if token:
            return token
        async with self._lock:
            token = self._fresh()
            if token:
                return token
            token, lifetime = await self._fetch(http)
            # Refresh ahead of expiry (5 min, or a tenth of a short lifetime).
            self._token = token
            self._expires_at = self._clock() + max(0.0, lifetime - min(self._margin, lifetime / 10))
            return token

    def invalidate(self, token: str) -> None:
        """WeChat refused ``token``; the next ``get`` fetches anew (unless another send
        already replaced it)."""
        if self._token == token:
            self._token = None

    async def _fetch(self, http: aiohttp.ClientSession) -> tuple[str, float]:
        self.fetches += 1
        params = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret}
        _, body, failure = await send_http(http, "GET", self._url, params=params)
        if failure is not None:
            raise TokenUnavailable(
                f"access token fetch failed: {_redact(failure.error or '', self._app_secret)}",
                retryable=failure.retryable,
            )
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        token, lifetime = data.get("access_token"), data.get("expires_in", 7200)
        if isinstance(token, str) and token and isinstance(lifetime, int | float) and lifetime > 0:
            return token, float(lifetime)
        code = data.get("errcode")
        reason = FETCH_FINAL.get(code) if isinstance(code, int) else None
        message = f"access token fetch failed: wechat error {code}: {str(data.get('errmsg', ''))[:200]}"
        raise TokenUnavailable(f"{message} ({reason})" if reason else message, retryable=reason is None)


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "<secret>") if secret else text
