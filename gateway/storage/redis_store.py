"""The Redis implementation of ``Store`` (redis-py asyncio, Lua for atomic steps).

Key layout (prefix ``gw`` by default; ``{…}`` is a Redis Cluster hash tag):

* ``gw:dd:<channel>:<external id>`` — dedupe record, kept ``storage.dedupe_ttl``
* ``gw:id:<kind>:<value>`` — identity → contact id
* ``gw:ct:{<contact>}`` (+ ``:attrs``, ``:ids``, ``:convs``) — contact
* ``gw:cv:{<conversation>}`` (+ ``:attrs``, ``:flags``, ``:msgs``, ``:threads``, ``:m:<msg>``)
* ``gw:open:<contact>:<channel>:<endpoint>`` — the contact's current conversation there
* ``gw:thr:<Message-ID>`` — email thread membership
* ``gw:idx:all``, ``gw:idx:st:<status>``, ``gw:idx:q:<queue>`` — listing indexes
* ``gw:wait:<queue>`` — offered, unclaimed conversations in claim order
* ``gw:timers`` — every deadline, scored by due time
* ``gw:outbox`` — stream of AMQP messages awaiting a broker confirm
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc

from gateway.model import Contact, Conversation, IngestResult, Message
from gateway.storage.base import (
    IngestPlan,
    OutboxEntry,
    OutboxStats,
    Page,
    StorageUnavailable,
)
from gateway.storage.records import (
    contact_from_record,
    conversation_from_record,
    duplicate_result,
    message_from_record,
    outbox_entry,
    plan_json,
)

_LUA_DIR = Path(__file__).with_name("lua")
_GROUP = "relay"
_UNAVAILABLE = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError, OSError)


def _lua(name: str) -> str:
    return (_LUA_DIR / "lib.lua").read_text() + "\n" + (_LUA_DIR / f"{name}.lua").read_text()


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "gw", socket_timeout: float = 5.0) -> None:
        self.url = url
        self.prefix = prefix
        self._redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=15,
            max_connections=256,
        )
        # Blocking stream reads get their own connection so they never starve requests.
        self._blocking = aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=socket_timeout)
        self._scripts: dict[str, Any] = {}

    def __repr__(self) -> str:  # the URL may hold a password
        return f"RedisStore(prefix={self.prefix!r})"

    def k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def cv(self, conversation_id: str, *rest: str) -> str:
        return ":".join((f"{self.prefix}:cv:{{{conversation_id}}}", *rest))

    def ct(self, contact_id: str, *rest: str) -> str:
        return ":".join((f"{self.prefix}:ct:{{{contact_id}}}", *rest))

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}") from exc

    async def _run(self, name: str, *args: Any) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._redis.register_script(_lua(name))
        async with self._guard():
            return await script(keys=[], args=[self.prefix, *args])

    # lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        await self._ensure_group()

    async def _ensure_group(self) -> None:
        async with self._guard():
            with contextlib.suppress(rexc.ResponseError):  # BUSYGROUP: it exists already
                await self._redis.xgroup_create(self.k("outbox"), _GROUP, id="0", mkstream=True)

    async def _xreadgroup(
        self, client: aioredis.Redis, consumer: str, start: str, count: int, block: int | None
    ) -> Any:
        stream = self.k("outbox")
        async with self._guard():
            try:
                return await client.xreadgroup(_GROUP, consumer, {stream: start}, count=count, block=block)
            except rexc.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
        # Storage was down at start-up (or flushed): create the group and read again.
        await self._ensure_group()
        async with self._guard():
            return await client.xreadgroup(_GROUP, consumer, {stream: start}, count=count, block=block)

    async def close(self) -> None:
        await self._redis.aclose()
        await self._blocking.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (*_UNAVAILABLE, rexc.RedisError):
            return False

    # contacts and conversations ----------------------------------------------

    async def peek_duplicate(self, channel: str, external_id: str) -> IngestResult | None:
        async with self._guard():
            seen = await self._redis.get(self.k("dd", channel, external_id))
        return duplicate_result(seen) if seen else None

    async def lookup_contact(self, identity_keys: list[str]) -> Contact | None:
        if not identity_keys:
            return None
        async with self._guard():
            found = await self._redis.mget([self.k("id", key) for key in identity_keys])
        for contact_id in found:
            if contact_id:
                return await self.get_contact(contact_id)
        return None

    async def ingest(self, plan: IngestPlan) -> IngestResult:
        reply = await self._run("ingest", plan_json(plan))
        if reply[0] == "duplicate":
            return duplicate_result(reply[1])
        conversation_id, message_id, contact_id = reply[1].split("|")
        return IngestResult(
            conversation_id=conversation_id,
            message_id=message_id,
            contact_id=contact_id,
            duplicate=False,
            conversation_state=reply[0],
        )

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = await self._load_conversations([conversation_id])
        return found[0] if found else None

    async def _load_conversations(self, ids: list[str]) -> list[Conversation]:
        if not ids:
            return []
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for cid in ids:
                pipe.hgetall(self.cv(cid))
                pipe.hgetall(self.cv(cid, "attrs"))
                pipe.smembers(self.cv(cid, "flags"))
            raw = await pipe.execute()
        out = []
        for i in range(0, len(raw), 3):
            if raw[i]:
                out.append(conversation_from_record(raw[i], raw[i + 1], raw[i + 2]))
        return out

    async def get_messages(self, conversation_id: str, *, limit: int = 500) -> list[Message]:
        async with self._guard():
            ids = await self._redis.lrange(self.cv(conversation_id, "msgs"), -limit, -1)
            pipe = self._redis.pipeline(transaction=False)
            for mid in ids:
                pipe.hgetall(self.cv(conversation_id, "m", mid))
            raw = await pipe.execute()
        return [message_from_record(h) for h in raw if h]

    async def list_conversations(
        self,
        *,
        status: str | None = None,
        queue: str | None = None,
        contact_id: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> Page:
        if contact_id:
            index = self.ct(contact_id, "convs")
        elif queue:
            index = self.k("idx", "q", queue)
        elif status:
            index = self.k("idx", "st", status)
        else:
            index = self.k("idx", "all")
        picked: list[Conversation] = []
        upper = f"({before}" if before else "+inf"
        while len(picked) < limit:
            async with self._guard():
                batch = await self._redis.zrevrangebyscore(index, upper, "-inf", start=0, num=limit, withscores=True)
            if not batch:
                return Page(conversations=picked)
            for conv in await self._load_conversations([cid for cid, _ in batch]):
                if _matches(conv, status=status, queue=queue, contact_id=contact_id):
                    picked.append(conv)
            upper = f"({int(batch[-1][1])}"
            if len(batch) < limit:
                return Page(conversations=picked[:limit])
        return Page(conversations=picked[:limit], next_before=int(picked[limit - 1].created_at.timestamp() * 1000))

    async def get_contact(self, contact_id: str) -> Contact | None:
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(self.ct(contact_id))
            pipe.hgetall(self.ct(contact_id, "attrs"))
            pipe.smembers(self.ct(contact_id, "ids"))
            h, attrs, ids = await pipe.execute()
        return contact_from_record(h, attrs, ids) if h else None

    # outbox -------------------------------------------------------------------

    @staticmethod
    def _entries(raw: list[Any]) -> list[OutboxEntry]:
        # An entry deleted while pending comes back without fields.
        return [outbox_entry(entry_id, fields) for entry_id, fields in raw if fields]

    async def outbox_read(self, consumer: str, *, count: int, block_ms: int, retry_own: bool) -> list[OutboxEntry]:
        if retry_own:
            reply = await self._xreadgroup(self._redis, consumer, "0", count, None)
        else:
            client = self._blocking if block_ms else self._redis
            reply = await self._xreadgroup(client, consumer, ">", count, block_ms or None)
        if not reply:
            return []
        return self._entries(reply[0][1])

    async def outbox_reclaim(self, consumer: str, *, min_idle_ms: int, count: int) -> list[OutboxEntry]:
        async with self._guard():
            reply = await self._redis.xautoclaim(self.k("outbox"), _GROUP, consumer, min_idle_ms, "0-0", count=count)
        return self._entries(reply[1])

    async def outbox_ack(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        stream = self.k("outbox")
        async with self._guard():
            pipe = self._redis.pipeline(transaction=True)
            pipe.xack(stream, _GROUP, *entry_ids)
            pipe.xdel(stream, *entry_ids)
            await pipe.execute()

    async def outbox_stats(self) -> OutboxStats:
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            pipe.xlen(self.k("outbox"))
            pipe.xrange(self.k("outbox"), count=1)
            depth, first = await pipe.execute()
        oldest = int(first[0][0].split("-")[0]) if first else None
        return OutboxStats(depth=depth, oldest_ms=oldest)


def _matches(conv: Conversation, *, status: str | None, queue: str | None, contact_id: str | None) -> bool:
    return (
        (status is None or conv.status == status)
        and (queue is None or conv.queue == queue)
        and (contact_id is None or conv.contact_id == contact_id)
    )
