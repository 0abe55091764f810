"""The in-memory implementation of ``Store``, for the embedded default and tests.

It keeps the same flat records and key names as the Redis store and runs the same
steps as its Lua scripts, line for line, so the two can be read side by side; the
contract tests in ``tests/storage`` hold both to the same behaviour. Each method runs
without ``await`` between its reads and writes, which makes it atomic on the event loop.
Nothing survives the process: it is for trying the gateway, not for production.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from typing import Any

from gateway.model import Contact, Conversation, IngestResult, Message
from gateway.storage.base import IngestPlan, OutboxEntry, OutboxStats, Page
from gateway.storage.records import (
    contact_from_record,
    conversation_from_record,
    duplicate_result,
    message_from_record,
    outbox_entry,
)


def _empty(value: Any) -> bool:
    return value is None or value == ""


class _Data:
    """The few Redis data types the scripts use, as plain dicts."""

    def __init__(self) -> None:
        self.strings: dict[str, tuple[str, float | None]] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.sets: dict[str, set[str]] = {}
        self.zsets: dict[str, dict[str, float]] = {}
        self.lists: dict[str, list[str]] = {}

    # strings
    def get(self, key: str) -> str | None:
        item = self.strings.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self.strings[key]
            return None
        return value

    def set(self, key: str, value: str, *, px: int | None = None, nx: bool = False) -> bool:
        if nx and self.get(key) is not None:
            return False
        self.strings[key] = (value, time.monotonic() + px / 1000 if px else None)
        return True

    def delete(self, key: str) -> None:
        for space in (self.strings, self.hashes, self.sets, self.zsets, self.lists):
            space.pop(key, None)  # type: ignore[attr-defined]

    # hashes
    def hget(self, key: str, field: str) -> str | None:
        return self.hashes.get(key, {}).get(field)

    def hset(self, key: str, **fields: Any) -> None:
        self.hashes.setdefault(key, {}).update({k: str(v) for k, v in fields.items()})

    def hset_map(self, key: str, fields: dict[str, str]) -> None:
        self.hashes.setdefault(key, {}).update(fields)

    def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.hashes.get(key, {}))

    def hincrby(self, key: str, field: str, by: int = 1) -> int:
        h = self.hashes.setdefault(key, {})
        value = int(h.get(field) or 0) + by
        h[field] = str(value)
        return value

    def exists(self, key: str) -> bool:
        return key in self.hashes or self.get(key) is not None

    # sets
    def sadd(self, key: str, *members: str) -> int:
        s = self.sets.setdefault(key, set())
        before = len(s)
        s.update(members)
        return len(s) - before

    def srem(self, key: str, *members: str) -> None:
        s = self.sets.get(key)
        if s:
            s.difference_update(members)

    def smembers(self, key: str) -> set[str]:
        return set(self.sets.get(key, set()))

    # sorted sets
    def zadd(self, key: str, score: float, member: str) -> None:
        self.zsets.setdefault(key, {})[member] = float(score)

    def zrem(self, key: str, member: str) -> bool:
        return self.zsets.get(key, {}).pop(member, None) is not None

    def zscore(self, key: str, member: str) -> float | None:
        return self.zsets.get(key, {}).get(member)

    def zrange_by_score(self, key: str, low: float, high: float, limit: int | None = None) -> list[tuple[str, float]]:
        items = sorted(((s, m) for m, s in self.zsets.get(key, {}).items() if low <= s <= high))
        out = [(m, s) for s, m in items]
        return out[:limit] if limit is not None else out

    def zrevrange_below(self, key: str, below: float | None, limit: int) -> list[tuple[str, float]]:
        items = sorted(((s, m) for m, s in self.zsets.get(key, {}).items() if below is None or s < below), reverse=True)
        return [(m, s) for s, m in items[:limit]]

    def zcard(self, key: str) -> int:
        return len(self.zsets.get(key, {}))

    # lists
    def rpush(self, key: str, value: str) -> None:
        self.lists.setdefault(key, []).append(value)

    def lrange_tail(self, key: str, count: int) -> list[str]:
        return list(self.lists.get(key, [])[-count:])


class _Stream:
    """A stream with one consumer group, as the outbox relay uses it."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, dict[str, str]] = OrderedDict()
        self.delivered: set[str] = set()
        self.pending: dict[str, tuple[str, float]] = {}  # entry id → (consumer, delivered at)
        self._last_ms = 0
        self._seq = 0
        self.changed = asyncio.Event()

    def add(self, fields: dict[str, str]) -> str:
        now = int(time.time() * 1000)
        if now <= self._last_ms:
            self._seq += 1
        else:
            self._last_ms, self._seq = now, 0
        entry_id = f"{self._last_ms}-{self._seq}"
        self.entries[entry_id] = fields
        self.changed.set()
        return entry_id


class MemoryStore:
    def __init__(self, *, prefix: str = "gw") -> None:
        self.prefix = prefix
        self.d = _Data()
        self.outbox = _Stream()

    def __repr__(self) -> str:
        return "MemoryStore()"

    # key helpers, as in lib.lua
    def k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def cv(self, conversation_id: str, *rest: str) -> str:
        return ":".join((f"{self.prefix}:cv:{{{conversation_id}}}", *rest))

    def ct(self, contact_id: str, *rest: str) -> str:
        return ":".join((f"{self.prefix}:ct:{{{contact_id}}}", *rest))

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    # lib.lua ----------------------------------------------------------------

    def _outbox(self, mid: str, exchange: str, rk: str, prio: int, payload: str, fields: dict[str, Any]) -> None:
        self.outbox.add(
            {
                "mid": mid,
                "ex": exchange,
                "rk": rk,
                "pr": str(int(prio)),
                "payload": payload,
                "fields": json.dumps(fields),
            }
        )

    def _set_status(self, cid: str, old: str | None, new: str) -> None:
        if old == new:
            return
        created = float(self.d.hget(self.cv(cid), "created_at") or 0)
        if not _empty(old):
            self.d.zrem(self.k("idx", "st", old), cid)  # type: ignore[arg-type]
        self.d.zadd(self.k("idx", "st", new), created, cid)
        self.d.hset(self.cv(cid), status=new)

    @staticmethod
    def _wait_score(priority: int | str, reply_by: str | None, since: int) -> float:
        t = int(reply_by) if reply_by else 0
        if t == 0:
            t = since
        return (9 - int(priority)) * 10_000_000_000_000 + t

    def _unwait(self, cid: str) -> None:
        k = self.cv(cid)
        q = self.d.hget(k, "queue")
        if not _empty(q):
            self.d.zrem(self.k("wait", q), cid)  # type: ignore[arg-type]
        self.d.hset(k, waiting_since="")

    def _offer(
        self,
        cid: str,
        queue: str,
        priority: int,
        reason: str,
        now: int,
        decision: str | None,
        target_index: int,
        escalate_after: int,
        payload: str,
    ) -> int:
        k = self.cv(cid)
        old_q = self.d.hget(k, "queue")
        if not _empty(old_q):
            self.d.zrem(self.k("wait", old_q), cid)  # type: ignore[arg-type]
            if old_q != queue:
                self.d.zrem(self.k("idx", "q", old_q), cid)  # type: ignore[arg-type]
        version = self.d.hincrby(k, "routing_version")
        if decision:
            self.d.hset(k, routing=decision)
        self.d.hset(
            k,
            queue=queue,
            priority=int(priority),
            target_index=int(target_index),
            waiting_since=now,
            assignee="",
            claimed_at="",
        )
        reply_by = self.d.hget(k, "reply_by")
        self.d.zadd(self.k("idx", "q", queue), float(self.d.hget(k, "created_at") or 0), cid)
        self.d.zadd(self.k("wait", queue), self._wait_score(priority, reply_by, now), cid)
        if escalate_after > 0:
            self.d.zadd(self.k("timers"), now + escalate_after, f"escalate|{cid}|{version}")
        self._outbox(
            f"offer:{cid}:{version}",
            "gateway.work",
            queue,
            priority,
            payload,
            {
                "conversation_id": cid,
                "contact_id": self.d.hget(k, "contact_id"),
                "routing_version": str(version),
                "reason": reason,
                "queue": queue,
                "priority": str(int(priority)),
                "reply_by_ms": reply_by or "",
                "created_at_ms": str(now),
            },
        )
        return version

    # contacts and conversations ------------------------------------------------

    async def peek_duplicate(self, channel: str, external_id: str) -> IngestResult | None:
        seen = self.d.get(self.k("dd", channel, external_id))
        return duplicate_result(seen) if seen else None

    async def lookup_contact(self, identity_keys: list[str]) -> Contact | None:
        for key in identity_keys:
            contact_id = self.d.get(self.k("id", key))
            if contact_id:
                return await self.get_contact(contact_id)
        return None

    async def ingest(self, plan: IngestPlan) -> IngestResult:
        d, now = self.d, plan.now_ms
        ddk = self.k("dd", plan.channel, plan.external_id)
        seen = d.get(ddk)
        if seen:
            return duplicate_result(seen)

        contact_id = None
        for ik in plan.identities:
            contact_id = d.get(self.k("id", ik))
            if contact_id:
                break
        if not contact_id:
            contact_id = plan.new_contact_id
            d.hset(self.ct(contact_id), id=contact_id, created_at=now, name="")
        for ik in plan.identities:
            if d.set(self.k("id", ik), contact_id, nx=True):
                d.sadd(self.ct(contact_id, "ids"), ik)
        if plan.contact_name:
            d.hset(self.ct(contact_id), name=plan.contact_name)
        d.hset_map(self.ct(contact_id, "attrs"), plan.contact_attributes)

        cid = None
        for ref in plan.thread_refs:
            cid = d.get(self.k("thr", ref))
            if cid:
                break
        if not cid and plan.thread_conversation_id and d.exists(self.cv(plan.thread_conversation_id)):
            cid = plan.thread_conversation_id
        pointer = None
        if plan.by_contact:
            pointer = self.k("open", contact_id, plan.channel, plan.endpoint)
            if not cid:
                cid = d.get(pointer)
        state = "existing"
        if cid:
            status = d.hget(self.cv(cid), "status")
            if status is None:
                cid = None
            elif status == "resolved":
                resolved_at = int(d.hget(self.cv(cid), "resolved_at") or 0)
                if now - resolved_at <= plan.reopen_window_ms:
                    state = "reopened"
                else:
                    cid = None

        if not cid:
            cid = plan.new_conversation_id
            state = "new"
            k = self.cv(cid)
            d.hset(
                k,
                id=cid,
                contact_id=contact_id,
                channel=plan.channel,
                endpoint=plan.endpoint,
                subject=plan.subject,
                created_at=now,
                updated_at=now,
                routing_version=0,
                target_index=0,
                priority=int(plan.priority),
                sla_state="none",
                reply_seq=0,
                message_count=0,
                sla_breaches=0,
            )
            self._set_status(cid, None, "open")
            d.zadd(self.k("idx", "all"), now, cid)
            d.zadd(self.ct(contact_id, "convs"), now, cid)
            self._outbox(
                f"conversation.opened:{cid}",
                "gateway.events",
                "conversation.opened",
                0,
                plan.events.opened,
                {"conversation_id": cid, "contact_id": contact_id, "occurred_at_ms": str(now)},
            )
        else:
            k = self.cv(cid)
            status = d.hget(k, "status")
            if state == "reopened":
                assignee = d.hget(k, "assignee")
                if not _empty(assignee):
                    d.srem(self.k("ag", assignee, "active"), cid)  # type: ignore[arg-type]
                d.hset(k, resolved_at="", assignee="", claimed_at="")
                q = d.hget(k, "queue")
                if not _empty(q):
                    d.zadd(self.k("idx", "q", q), float(d.hget(k, "created_at") or 0), cid)  # type: ignore[arg-type]
                self._outbox(
                    f"conversation.reopened:{cid}:{plan.message_id}",
                    "gateway.events",
                    "conversation.reopened",
                    0,
                    plan.events.reopened,
                    {"conversation_id": cid, "contact_id": d.hget(k, "contact_id"), "occurred_at_ms": str(now)},
                )
            self._set_status(cid, status, "open")
        if pointer:
            d.set(pointer, cid)
        conv_contact = d.hget(k, "contact_id") or contact_id

        d.hset(
            self.cv(cid, "m", plan.message_id),
            json=plan.message_json,
            conversation_id=cid,
            direction="inbound",
            status="",
            error="",
            external_id=plan.external_id,
        )
        d.rpush(self.cv(cid, "msgs"), plan.message_id)
        d.hincrby(k, "message_count")
        d.hset(k, last_inbound_at=plan.received_ms, updated_at=now)
        for ref in plan.own_thread_ids:
            d.set(self.k("thr", ref), cid)
            d.sadd(self.cv(cid, "threads"), ref)
        d.hset_map(self.cv(cid, "attrs"), plan.conversation_attributes)
        if _empty(d.hget(k, "subject")) and plan.subject:
            d.hset(k, subject=plan.subject)

        win = plan.window_expires_ms
        if win > 0 and win > int(d.hget(k, "window_expires_at") or 0):
            d.hset(k, window_expires_at=win)
            d.zadd(self.k("timers"), plan.window_warn_ms, f"window_closing|{cid}|{win}")

        if plan.route and plan.reply_by_ms > 0 and _empty(d.hget(k, "awaiting_since")):
            seq = d.hincrby(k, "reply_seq")
            d.hset(k, awaiting_since=plan.received_ms, reply_by=plan.reply_by_ms, sla_state="active")
            d.zadd(self.k("timers"), plan.warn_ms, f"sla_warn|{cid}|{seq}")
            d.zadd(self.k("timers"), plan.reply_by_ms, f"sla_breach|{cid}|{seq}")

        if plan.route and _empty(d.hget(k, "assignee")) and _empty(d.hget(k, "waiting_since")):
            reason = "reopened" if state == "reopened" else "new"
            self._offer(
                cid,
                plan.queue,
                plan.priority,
                reason,
                now,
                plan.decision_json,
                0,
                plan.escalate_after_ms,
                plan.events.offer,
            )

        self._outbox(
            f"message.inbound:{plan.message_id}",
            "gateway.events",
            "message.inbound",
            0,
            plan.events.inbound,
            {"conversation_id": cid, "contact_id": conv_contact, "occurred_at_ms": str(now)},
        )
        result = f"{cid}|{plan.message_id}|{conv_contact}"
        d.set(ddk, result, px=plan.dedupe_ttl_ms)
        return IngestResult(
            conversation_id=cid, message_id=plan.message_id, contact_id=conv_contact, conversation_state=state
        )

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return self._conversation(conversation_id)

    def _conversation(self, cid: str) -> Conversation | None:
        h = self.d.hgetall(self.cv(cid))
        if not h:
            return None
        return conversation_from_record(
            h, self.d.hgetall(self.cv(cid, "attrs")), self.d.smembers(self.cv(cid, "flags"))
        )

    async def get_messages(self, conversation_id: str, *, limit: int = 500) -> list[Message]:
        ids = self.d.lrange_tail(self.cv(conversation_id, "msgs"), limit)
        return [message_from_record(self.d.hgetall(self.cv(conversation_id, "m", mid))) for mid in ids]

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
        picked = []
        for cid, _ in self.d.zrevrange_below(index, before, 10**9):
            conv = self._conversation(cid)
            if conv is None:
                continue
            if (
                (status and conv.status != status)
                or (queue and conv.queue != queue)
                or (contact_id and conv.contact_id != contact_id)
            ):
                continue
            picked.append(conv)
            if len(picked) > limit:
                break
        if len(picked) > limit:
            picked = picked[:limit]
            return Page(conversations=picked, next_before=int(picked[-1].created_at.timestamp() * 1000))
        return Page(conversations=picked)

    async def get_contact(self, contact_id: str) -> Contact | None:
        h = self.d.hgetall(self.ct(contact_id))
        if not h:
            return None
        return contact_from_record(
            h, self.d.hgetall(self.ct(contact_id, "attrs")), self.d.smembers(self.ct(contact_id, "ids"))
        )

    # outbox ---------------------------------------------------------------------

    def _deliver(self, consumer: str, entry_ids: list[str]) -> list[OutboxEntry]:
        now = time.monotonic()
        out = []
        for entry_id in entry_ids:
            self.outbox.delivered.add(entry_id)
            self.outbox.pending[entry_id] = (consumer, now)
            out.append(outbox_entry(entry_id, self.outbox.entries[entry_id]))
        return out

    async def outbox_read(self, consumer: str, *, count: int, block_ms: int, retry_own: bool) -> list[OutboxEntry]:
        stream = self.outbox
        if retry_own:
            own = [e for e, (c, _) in stream.pending.items() if c == consumer and e in stream.entries]
            return self._deliver(consumer, own[:count])
        fresh = [e for e in stream.entries if e not in stream.delivered][:count]
        if not fresh and block_ms:
            stream.changed.clear()
            try:
                await asyncio.wait_for(stream.changed.wait(), block_ms / 1000)
            except TimeoutError:
                return []
            fresh = [e for e in stream.entries if e not in stream.delivered][:count]
        return self._deliver(consumer, fresh)

    async def outbox_reclaim(self, consumer: str, *, min_idle_ms: int, count: int) -> list[OutboxEntry]:
        cutoff = time.monotonic() - min_idle_ms / 1000
        stale = [e for e, (_, at) in self.outbox.pending.items() if at <= cutoff and e in self.outbox.entries]
        return self._deliver(consumer, stale[:count])

    async def outbox_ack(self, entry_ids: list[str]) -> None:
        for entry_id in entry_ids:
            self.outbox.pending.pop(entry_id, None)
            self.outbox.entries.pop(entry_id, None)
            self.outbox.delivered.discard(entry_id)

    async def outbox_stats(self) -> OutboxStats:
        first = next(iter(self.outbox.entries), None)
        return OutboxStats(depth=len(self.outbox.entries), oldest_ms=int(first.split("-")[0]) if first else None)
