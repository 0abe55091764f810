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
* ``gw:stats`` — cluster-wide counters; ``gw:once:<key>`` — "counted already" markers
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc

from gateway.model import Contact, Conversation, IngestResult, Message
from gateway.storage.base import (
    DueTimer,
    IngestPlan,
    OutboxEntry,
    OutboxStats,
    Outcome,
    Page,
    Prepared,
    QueueStats,
    StorageUnavailable,
)
from gateway.storage.keys import KeyLayout
from gateway.storage.records import (
    claim_outcome,
    contact_from_record,
    conversation_from_record,
    duplicate_result,
    message_from_record,
    outbox_entry,
    plan_json,
    prepared_result,
    status_outcome,
    version_outcome,
)

_LUA_DIR = Path(__file__).with_name("lua")
_GROUP = "relay"
_UNAVAILABLE = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError, OSError)


def _lua(name: str) -> str:
    return (_LUA_DIR / "lib.lua").read_text() + "\n" + (_LUA_DIR / f"{name}.lua").read_text()


def _only_from(queues: list[str] | None) -> list[str]:
    """The scripts' ``may_serve`` arguments: any queue (None), or only these."""
    return ["0"] if queues is None else ["1", *queues]


class RedisStore(KeyLayout):
    def __init__(self, url: str, *, prefix: str = "gw", socket_timeout: float = 5.0) -> None:
        self.url = url
        super().__init__(prefix)
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
        self._redis = aioredis.Redis(connection_pool=pool)
        # Blocking stream reads get their own connection so they never starve requests.
        self._blocking = aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=socket_timeout)
        self._scripts: dict[str, Any] = {}

    def __repr__(self) -> str:  # the URL may hold a password
        return f"RedisStore(prefix={self.prefix!r})"

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

    async def prepare(
        self,
        channel: str,
        external_id: str,
        identity_keys: list[str],
        *,
        endpoint: str,
        by_contact: bool,
        thread_refs: list[str],
    ) -> Prepared:
        reply = await self._run(
            "prepare",
            channel,
            external_id,
            endpoint,
            "1" if by_contact else "0",
            json.dumps(thread_refs),
            *identity_keys,
        )
        return prepared_result(reply)

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
        index = self.listing_index(status=status, queue=queue, contact_id=contact_id)
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

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None:
        async with self._guard():
            h = await self._redis.hgetall(self.cv(conversation_id, "m", message_id))
        return message_from_record(h) if h else None

    async def thread_ids(self, conversation_id: str) -> list[str]:
        async with self._guard():
            return sorted(await self._redis.smembers(self.cv(conversation_id, "threads")))

    # assignment and routing --------------------------------------------------------

    async def claim(
        self,
        conversation_id: str,
        agent: str,
        *,
        version: int | None,
        capacity: int,
        now_ms: int,
        payload: str,
        queues: list[str] | None = None,
    ) -> Outcome:
        reply = await self._run(
            "claim",
            conversation_id,
            agent,
            "" if version is None else str(version),
            str(capacity),
            str(now_ms),
            payload,
            *_only_from(queues),
        )
        return claim_outcome(reply, conversation_id)

    async def claim_next(self, agent: str, queues: list[str], *, capacity: int, now_ms: int, payload: str) -> Outcome:
        reply = await self._run("claim_next", agent, str(capacity), str(now_ms), json.dumps(queues), payload)
        if reply[0] == "ok":
            waited = int(reply[3]) if len(reply) > 3 and reply[3] else None
            return Outcome(
                ok=True, conversation_id=reply[1], routing_version=int(reply[2]), assignee=agent, waited_ms=waited
            )
        return Outcome(ok=False, reason=reply[0])

    async def reroute(
        self,
        conversation_id: str,
        *,
        expected_version: int | None,
        only_unassigned: bool,
        queue: str,
        priority: int,
        reason: str,
        now_ms: int,
        decision_json: str | None,
        target_index: int,
        escalate_after_ms: int,
        payload: str,
        keep_wait: bool,
    ) -> Outcome:
        reply = await self._run(
            "reroute",
            conversation_id,
            "" if expected_version is None else str(expected_version),
            "1" if only_unassigned else "0",
            queue,
            str(priority),
            reason,
            str(now_ms),
            decision_json or "",
            str(target_index),
            str(escalate_after_ms),
            payload,
            "1" if keep_wait else "0",
        )
        return version_outcome(reply, conversation_id)

    async def resolve(self, conversation_id: str, *, by: str, now_ms: int, payload: str) -> Outcome:
        reply = await self._run("resolve", conversation_id, by, str(now_ms), payload)
        return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id)

    async def set_pending(self, conversation_id: str, *, now_ms: int) -> Outcome:
        reply = await self._run("pending", conversation_id, str(now_ms))
        return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id)

    async def awaiting_between(self, low_ms: int, high_ms: int, *, limit: int) -> list[Conversation]:
        async with self._guard():
            ids = await self._redis.zrangebyscore(self.k("idx", "awaiting"), low_ms, high_ms, start=0, num=limit)
        return await self._load_conversations(ids)

    async def active_conversations(self, agent: str) -> set[str]:
        async with self._guard():
            return set(await self._redis.smembers(self.k("ag", agent, "active")))

    async def queue_stats(self, queues: list[str]) -> dict[str, QueueStats]:
        async with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for q in queues:
                pipe.zcard(self.k("wait", q))
                pipe.zrange(self.k("waitage", q), 0, 0, withscores=True)
            raw = await pipe.execute()
        out = {}
        for i, q in enumerate(queues):
            depth, oldest = raw[2 * i], raw[2 * i + 1]
            out[q] = QueueStats(waiting=depth, oldest_wait_ms=int(oldest[0][1]) if oldest else None)
        return out

    async def stats(self) -> dict[str, int]:
        async with self._guard():
            return {k: int(v) for k, v in (await self._redis.hgetall(self.k("stats"))).items()}

    async def add_counts(self, counts: dict[str, int], *, once: str = "", once_ttl_ms: int = 0) -> bool:
        pairs = [str(v) for name, by in counts.items() for v in (name, int(by))]
        return bool(await self._run("counters", once, str(max(1, once_ttl_ms)), *pairs))

    async def merge_contacts(self, keep: str, other: str, *, by: str, now_ms: int, payload: str) -> Outcome:
        reply = await self._run("merge", keep, other, by, str(now_ms), payload)
        return Outcome(ok=reply[0] == "ok", reason=reply[0])

    # outbound messages and delivery status -------------------------------------

    async def append_message(
        self,
        conversation_id: str,
        *,
        message_id: str,
        message_json: str,
        now_ms: int,
        kind: str,
        agent: str,
        payload: str,
        send: bool,
        claim: bool,
        assigned_payload: str,
        capacity: int = 0,
        queues: list[str] | None = None,
    ) -> Outcome:
        reply = await self._run(
            "outbound",
            conversation_id,
            message_id,
            message_json,
            str(now_ms),
            kind,
            agent,
            payload,
            "1" if send else "0",
            "1" if claim else "0",
            assigned_payload,
            str(capacity),
            *_only_from(queues),
        )
        if reply[0] == "not_qualified":
            return Outcome(ok=False, reason="not_qualified", conversation_id=conversation_id)
        if reply[0] == "capacity":
            return Outcome(ok=False, reason="capacity", conversation_id=conversation_id)
        if reply[0] == "not_assignee":
            return Outcome(ok=False, reason="not_assignee", conversation_id=conversation_id, assignee=reply[1])
        first = int(reply[1]) if len(reply) > 1 and reply[1] else None
        return Outcome(
            ok=reply[0] == "ok",
            reason=reply[0],
            conversation_id=conversation_id,
            message_id=message_id,
            first_response_ms=first,
        )

    async def record_send(
        self,
        conversation_id: str,
        message_id: str,
        *,
        outcome: str,
        external_id: str,
        error: str,
        channel: str,
        now_ms: int,
        status: str,
        ext_ttl_ms: int,
        payload: str,
    ) -> Outcome:
        reply = await self._run(
            "send_result",
            conversation_id,
            message_id,
            outcome,
            external_id,
            error,
            channel,
            str(now_ms),
            status,
            str(ext_ttl_ms),
            payload,
        )
        return Outcome(
            ok=reply[0] == "ok",
            reason=reply[0],
            conversation_id=conversation_id,
            message_id=message_id,
            status=reply[1] if len(reply) > 1 else None,
        )

    async def apply_status(
        self, channel: str, external_id: str, *, status: str, error: str, now_ms: int, payload: str, early_ttl_ms: int
    ) -> Outcome:
        reply = await self._run("status", channel, external_id, status, error, str(now_ms), payload, str(early_ttl_ms))
        return status_outcome(reply)

    # timers ----------------------------------------------------------------------

    async def timers_due(self, now_ms: int, *, limit: int, lease_ms: int) -> list[DueTimer]:
        reply = await self._run("timers_due", str(now_ms), str(limit), str(lease_ms))
        return [DueTimer(member=reply[i], due_ms=int(float(reply[i + 1]))) for i in range(0, len(reply), 2)]

    async def timer_set(self, member: str, due_ms: int) -> None:
        async with self._guard():
            await self._redis.zadd(self.k("timers"), {member: due_ms})

    async def timer_done(self, member: str) -> None:
        async with self._guard():
            await self._redis.zrem(self.k("timers"), member)

    async def timer_count(self) -> int:
        async with self._guard():
            return int(await self._redis.zcard(self.k("timers")))

    async def sla_fire(
        self,
        kind: str,
        conversation_id: str,
        seq: str,
        *,
        now_ms: int,
        payload: str,
        queue: str,
        priority: int,
        offer_payload: str,
    ) -> Outcome:
        reply = await self._run(
            "sla", kind, conversation_id, seq, str(now_ms), payload, queue, str(priority), offer_payload
        )
        return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id)

    async def window_closing(
        self, conversation_id: str, expires_ms: str, *, now_ms: int, payload: str, priority: int
    ) -> Outcome:
        reply = await self._run("window", conversation_id, expires_ms, str(now_ms), payload, str(priority))
        return Outcome(ok=reply[0] == "ok", reason=reply[0], conversation_id=conversation_id)

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

    # shared values: ``gw:shared:<key>``, plain strings with a lifetime -------------

    async def shared_get(self, key: str) -> str | None:
        async with self._guard():
            value = await self._redis.get(self.k("shared", key))
        return str(value) if value is not None else None

    async def shared_set(self, key: str, value: str, *, ttl_ms: int) -> None:
        async with self._guard():
            await self._redis.set(self.k("shared", key), value, px=max(1, ttl_ms))

    async def shared_set_if_absent(self, key: str, value: str, *, ttl_ms: int) -> bool:
        async with self._guard():
            return bool(await self._redis.set(self.k("shared", key), value, px=max(1, ttl_ms), nx=True))

    async def shared_delete_if(self, key: str, value: str) -> bool:
        return bool(await self._run("shared_delete_if", key, value))


def _matches(conv: Conversation, *, status: str | None, queue: str | None, contact_id: str | None) -> bool:
    return (
        (status is None or conv.status == status)
        and (queue is None or conv.queue == queue)
        and (contact_id is None or conv.contact_id == contact_id)
    )
