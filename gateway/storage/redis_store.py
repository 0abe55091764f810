"""The Redis implementation of ``Store`` (redis-py asyncio, Lua for atomic steps).

``RedisStore`` is one class put together from the parts beside it, each named for what
it holds: ``intake``, ``amendments`` (edits and deletions), ``reads``, ``search``, ``claims``, ``delivery``,
``deadlines``, ``outbox_stream``, ``shared_values``, ``case_store``; ``connection`` and ``scripts``
are what they share.
The in-memory store (``memory.py``) is this same class on an in-memory engine.

Key layout (prefix ``gw`` by default; ``{…}`` is a Redis Cluster hash tag):

* ``gw:dd:<channel>:<external id>`` — dedupe record, kept ``storage.dedupe_ttl``
* ``gw:id:<kind>:<value>`` — identity → contact id
* ``gw:ct:{<contact>}`` (+ ``:attrs``, ``:ids``, ``:convs``) — contact
* ``gw:cv:{<conversation>}`` (+ ``:attrs``, ``:flags``, ``:msgs``, ``:threads``, ``:m:<msg>``)
* ``gw:open:<contact>:<channel>:<endpoint>`` — the contact's current conversation there
* ``gw:thr:<Message-ID>`` — email thread membership
* ``gw:idx:all``, ``gw:idx:st:<status>``, ``gw:idx:q:<queue>`` — listing indexes
* ``gw:sx:<term>`` — conversations found by a search term (``search``)
* ``gw:wait:<queue>`` — offered, unclaimed conversations in claim order
* ``gw:timers`` — every deadline, scored by due time
* ``gw:outbox`` — stream of AMQP messages awaiting a broker confirm
* ``gw:stats`` — cluster-wide counters; ``gw:once:<key>`` — "counted already" markers
* ``gw:case:{<number>}`` …, ``gw:cases:…``, ``gw:rate:<key>`` — cases (``case_store``)
* ``gw:vf:{<contact>}`` — the contact's identity verification (``verifications``)
"""

from __future__ import annotations

import redis.asyncio as aioredis

from gateway.storage.amendments import Amendments
from gateway.storage.case_store import CaseRecords
from gateway.storage.claims import Claims
from gateway.storage.deadlines import Deadlines
from gateway.storage.delivery import Delivery
from gateway.storage.intake import Intake
from gateway.storage.outbox_stream import OutboxStream
from gateway.storage.search import Search
from gateway.storage.sentinel import SCHEME as SENTINEL_SCHEME
from gateway.storage.sentinel import sentinel_clients
from gateway.storage.shared_values import SharedValues
from gateway.storage.verifications import Verifications


class RedisStore(
    Intake, Amendments, Search, Claims, Delivery, Deadlines, OutboxStream, SharedValues, CaseRecords, Verifications
):
    """``clients``: a request client and a blocking-read client made elsewhere (the
    in-memory engine's); by default both connect to ``url`` (``redis://…`` or
    ``redis+sentinel://…``, see ``sentinel``). ``min_replicas``: writes wait for that many
    replicas (``WAIT``, at most ``replica_timeout`` seconds; see ``connection``)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gw",
        socket_timeout: float = 5.0,
        clients: tuple[aioredis.Redis, aioredis.Redis] | None = None,
        min_replicas: int = 0,
        replica_timeout: float = 0.2,
    ) -> None:
        client, blocking = clients or _connect(url, socket_timeout)
        super().__init__(
            url,
            prefix=prefix,
            client=client,
            blocking=blocking,
            min_replicas=min_replicas,
            replica_timeout=replica_timeout,
        )

    def __repr__(self) -> str:  # the URL may hold a password
        return f"RedisStore(prefix={self.prefix!r})"


def _connect(url: str, socket_timeout: float) -> tuple[aioredis.Redis, aioredis.Redis]:
    if url.startswith(SENTINEL_SCHEME):
        return sentinel_clients(url, socket_timeout)
    # A burst waits (briefly) for a pooled connection instead of failing with
    # "too many connections", which would turn a load spike into 503s.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=15,
        max_connections=128,
        timeout=socket_timeout,
    )
    # Blocking stream reads get their own connection so they never starve requests.
    blocking = aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=socket_timeout)
    return aioredis.Redis(connection_pool=pool), blocking
