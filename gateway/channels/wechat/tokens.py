"""The Official Account access token: fetched from ``/cgi-bin/token``, shared by every
send of every gateway process through storage, refreshed shortly before it expires, and
dropped when WeChat calls it invalid.

WeChat issues one token per app at a time (about 7,200 s): a new fetch invalidates the
previous token after a grace period of about five minutes, and fetches are capped per day
(2,000). So a process-local token does not work with more than one gateway process —
each fetch would cut off the others' tokens, they would refetch on ``40001``, and the
daily quota would soon run out. Instead:

* The token lives in storage (``shared:wechat:token:<app id>``) with the wall-clock time
  at which it is due for a refresh; every send reads it there. That read is far cheaper
  than the WeChat call it precedes, and it is why no process keeps using a token another
  one has already replaced: a process-local copy would earn each process one more
  ``40001`` after every replacement.
* Fetching takes a short lease in storage first (``…:fetching``, ``SET NX PX``); the other
  processes wait and re-read until the token appears. A holder that dies leaves a lease
  that expires on its own; a waiter then takes it over.
* A send refused with a token error drops that token — in storage only while storage
  still holds that very token (compare-and-delete), so a process holding an old token
  never throws away the newer one another process has fetched; it reads that one instead.

Storage being down makes a token unavailable (retryable), never a fetch of our own: a
token no other process can see would cut theirs off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from gateway.channels.base import send_http
from gateway.model import ServiceUnavailable

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


class SharedValues(Protocol):
    """What the token cache needs from storage (the gateway's ``Store`` provides it):
    small string values with a lifetime that every gateway process sees. Each method
    raises ``ServiceUnavailable`` when storage cannot be reached."""

    async def shared_get(self, key: str) -> str | None: ...

    async def shared_set(self, key: str, value: str, *, ttl_ms: int) -> None: ...

    async def shared_set_if_absent(self, key: str, value: str, *, ttl_ms: int) -> bool: ...

    async def shared_delete_if(self, key: str, value: str) -> bool: ...


class TokenUnavailable(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class _Stored:
    token: str
    refresh_at: float  # wall-clock seconds, the same for every process
    raw: str  # the stored value exactly as read, for compare-and-delete

    def __repr__(self) -> str:
        return f"_Stored(refresh_at={self.refresh_at!r})"


class AccessTokens:
    def __init__(
        self,
        *,
        api_base_url: str,
        app_id: str,
        app_secret: str,
        shared: SharedValues,
        clock: Callable[[], float] = time.time,
        margin: float = 300.0,
        lease: float = 15.0,
        fetch_timeout: float = 10.0,
        poll: float = 0.05,
    ) -> None:
        """``clock`` is wall-clock seconds (refresh times are compared across processes);
        ``lease`` bounds how long a fetching process keeps the others waiting, so it is
        longer than ``fetch_timeout``."""
        self._url = f"{api_base_url.rstrip('/')}/cgi-bin/token"
        self._app_id = app_id
        self._app_secret = app_secret
        self._shared = shared
        self._clock = clock
        self._margin = margin
        self._lease = max(lease, fetch_timeout + 1.0)
        self._fetch_timeout = fetch_timeout
        self._poll = poll
        self.key = f"wechat:token:{app_id}"
        self.lock_key = f"{self.key}:fetching"
        self._last: _Stored | None = None  # the token this process last handed out
        self._lock = asyncio.Lock()  # one fetch round per process at a time
        self.fetches = 0

    def __repr__(self) -> str:
        return f"AccessTokens(app_id={self._app_id!r})"

    def _usable(self, stored: _Stored | None) -> _Stored | None:
        return stored if stored is not None and self._clock() < stored.refresh_at else None

    async def get(self, http: aiohttp.ClientSession) -> str:
        """The stored token, else a fresh one (fetched by this process or another).
        Raises ``TokenUnavailable``; retryable when storage is down."""
        try:
            stored = await self._read()
            if stored is None:
                async with self._lock:
                    stored = await self._shared_or_fetch(http)
        except ServiceUnavailable as exc:
            raise TokenUnavailable(f"access token unavailable: {exc}", retryable=True) from exc
        return stored.token

    async def invalidate(self, token: str) -> None:
        """WeChat refused ``token``: storage drops it if it still holds it, so the next
        ``get`` fetches another; a newer token another process stored meanwhile stays.
        Raises ``TokenUnavailable`` (retryable) when storage is down."""
        last = self._last
        if last is None or last.token != token:
            return  # this process has read a newer token since: the refusal is stale
        try:
            await self._shared.shared_delete_if(self.key, last.raw)
        except ServiceUnavailable as exc:
            raise TokenUnavailable(f"access token unavailable: {exc}", retryable=True) from exc

    async def _read(self) -> _Stored | None:
        raw = await self._shared.shared_get(self.key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            stored = _Stored(token=str(data["access_token"]), refresh_at=float(data["refresh_at_ms"]) / 1000, raw=raw)
        except (ValueError, TypeError, KeyError):
            return None  # unreadable: treated as absent, and replaced by the next fetch
        if self._usable(stored) is None:
            return None  # due for a refresh
        self._last = stored
        return stored

    async def _shared_or_fetch(self, http: aiohttp.ClientSession) -> _Stored:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._lease + 0.5  # a dead holder's lease has run out by then
        pause = self._poll
        while True:
            stored = await self._read()
            if stored:
                return stored
            owner = secrets.token_hex(8)
            if await self._shared.shared_set_if_absent(self.lock_key, owner, ttl_ms=int(self._lease * 1000)):
                try:
                    # Another process may have stored a token between the read and the lease.
                    return await self._read() or await self._fetch_and_share(http)
                finally:
                    with contextlib.suppress(ServiceUnavailable):  # else the lease expires
                        await self._shared.shared_delete_if(self.lock_key, owner)
            if loop.time() >= give_up:
                raise TokenUnavailable(
                    "access token unavailable: another gateway process is fetching it and has not finished",
                    retryable=True,
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    async def _fetch_and_share(self, http: aiohttp.ClientSession) -> _Stored:
        token, lifetime = await self._fetch(http)
        # Refresh ahead of expiry (5 min, or a tenth of a short lifetime).
        refresh_in = lifetime - min(self._margin, lifetime / 10)
        refresh_at_ms = int((self._clock() + refresh_in) * 1000)
        raw = json.dumps({"access_token": token, "refresh_at_ms": refresh_at_ms})
        await self._shared.shared_set(self.key, raw, ttl_ms=max(1, int(refresh_in * 1000)))
        self._last = _Stored(token=token, refresh_at=refresh_at_ms / 1000, raw=raw)
        return self._last

    async def _fetch(self, http: aiohttp.ClientSession) -> tuple[str, float]:
        self.fetches += 1
        params = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret}
        _, body, failure = await send_http(http, "GET", self._url, params=params, timeout=self._fetch_timeout)
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
