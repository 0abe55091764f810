"""Reaching Redis through Sentinel: ``redis+sentinel://[:password@]h1:26379,h2:26379/<service>/<db>``.

redis-py's ``Sentinel`` asks the sentinels for the current primary of ``<service>`` each
time a connection is made; when a primary dies, its connections fail, the pool drops
them and the next connection goes to whichever replica the sentinels promoted. A primary
that was demoted answers writes with READONLY, which redis-py also turns into a
reconnect. So the gateway follows a failover without a restart; what it sees meanwhile
is ``StorageUnavailable`` (503 / SMTP 451), never a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

SCHEME = "redis+sentinel://"


@dataclass(frozen=True, slots=True)
class SentinelUrl:
    sentinels: list[tuple[str, int]]
    service: str
    db: int
    password: str | None


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Raises ValueError naming what is wrong."""
    if not url.startswith(SCHEME):
        raise ValueError(f"must start with {SCHEME}")
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password else None
    hosts = parts.netloc.rsplit("@", 1)[-1]
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"sentinel {item!r} must be host:port")
        sentinels.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("must name the service: redis+sentinel://h1:26379,h2:26379/<service>/<db>")
    db = path[1] if len(path) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"database {db!r} must be a number")
    return SentinelUrl(sentinels=sentinels, service=path[0], db=int(db), password=password)


class PrimaryClient(aioredis.Redis):
    """A client on the service's current primary that owns its ``Sentinel``: closing it
    closes the connections to the Sentinels too."""

    sentinel: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinel is not None:
            await self.sentinel.aclose()


def _primary(url: str, socket_timeout: float | None, **kwargs: Any) -> aioredis.Redis:
    parsed = parse_sentinel_url(url)
    sentinel = Sentinel(
        parsed.sentinels,
        # Asking the sentinels must be quick: a dead sentinel is skipped for the next.
        sentinel_kwargs={"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout or 2.0, 2.0),
    )
    client = sentinel.master_for(
        parsed.service,
        redis_class=PrimaryClient,
        db=parsed.db,
        password=parsed.password,
        decode_responses=True,
        **kwargs,
    )
    client.sentinel = sentinel
    return client


def sentinel_clients(url: str, socket_timeout: float) -> tuple[aioredis.Redis, aioredis.Redis]:
    """A request client and a blocking-read client, both on the service's current primary."""
    client = _primary(url, socket_timeout, max_connections=128, health_check_interval=15)
    return client, _primary(url, socket_timeout)


def redis_client(url: str, *, socket_timeout: float | None, socket_connect_timeout: float) -> aioredis.Redis:
    """A client (``decode_responses``) on ``url``'s Redis, or on the current primary of a
    ``redis+sentinel://`` URL: for parts beside the store, such as the web chat bus."""
    if url.startswith(SCHEME):
        return _primary(url, socket_timeout)
    return aioredis.Redis.from_url(
        url, decode_responses=True, socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout
    )
