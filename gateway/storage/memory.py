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

from gateway.model import STATUS_RANK, Contact, Conversation, IngestResult, Message
from gateway.storage.base import DueTimer, IngestPlan, OutboxEntry, OutboxStats, Outcome, Page, Prepared, QueueStats
from gateway.storage.keys import KeyLayout
from gateway.storage.records import (
    claim_outcome,
    contact_from_record,
    conversation_from_record,
    duplicate_result,
    message_from_record,
    outbox_entry,
    prepared_result,
    status_outcome,
    version_outcome,
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


class MemoryStore(KeyLayout):
    def __init__(self, *, prefix: str = "gw") -> None:
        super().__init__(prefix)
        self.d = _Data()
        self.outbox = _Stream()
        self.early: dict[str, list[str]] = {}  # delivery reports that beat the provider id
        self.audit: list[str] = []

    def __repr__(self) -> str:
        return "MemoryStore()"

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
            self.d.zrem(self.k("waitage", q), cid)  # type: ignore[arg-type]
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
        keep_wait: bool = False,
    ) -> int:
        d, k = self.d, self.cv(cid)
        since = now
        old_since = d.hget(k, "waiting_since")
        if keep_wait and not _empty(old_since):
            since = int(old_since)  # type: ignore[arg-type]
        old_q = d.hget(k, "queue")
        if not _empty(old_q):
            d.zrem(self.k("wait", old_q), cid)  # type: ignore[arg-type]
            d.zrem(self.k("waitage", old_q), cid)  # type: ignore[arg-type]
            if old_q != queue:
                d.zrem(self.k("idx", "q", old_q), cid)  # type: ignore[arg-type]
        assignee = d.hget(k, "assignee")
        if not _empty(assignee):
            d.srem(self.k("ag", assignee, "active"), cid)  # type: ignore[arg-type]
        version = d.hincrby(k, "routing_version")
        if decision:
            d.hset(k, routing=decision)
        d.hset(
            k,
            queue=queue,
            priority=int(priority),
            target_index=int(target_index),
            waiting_since=since,
            assignee="",
            claimed_at="",
        )
        reply_by = d.hget(k, "reply_by")
        d.zadd(self.k("idx", "q", queue), float(d.hget(k, "created_at") or 0), cid)
        d.zadd(self.k("wait", queue), self._wait_score(priority, reply_by, since), cid)
        d.zadd(self.k("waitage", queue), since, cid)
        if reason in ("new", "reopened"):
            self._stat("offered")
        if escalate_after > 0:
            d.zadd(self.k("timers"), now + escalate_after, f"escalate|{cid}|{version}")
        if reason in ("escalated", "transferred"):
            self._outbox(
                f"conversation.{reason}:{cid}:{version}",
                "gateway.events",
                f"conversation.{reason}",
                0,
                json.dumps({"type": f"conversation.{reason}"}),
                {
                    "conversation_id": cid,
                    "contact_id": d.hget(k, "contact_id"),
                    "queue": queue,
                    "priority": str(int(priority)),
                    "routing_version": str(version),
                    "previous_queue": old_q or "",
                    "previous_assignee": assignee or "",
                    "occurred_at_ms": str(now),
                },
            )
        self._outbox(
            f"offer:{cid}:{version}",
            "gateway.work",
            queue,
            priority,
            payload,
            {
                "conversation_id": cid,
                "contact_id": d.hget(k, "contact_id"),
                "routing_version": str(version),
                "reason": reason,
                "queue": queue,
                "priority": str(int(priority)),
                "reply_by_ms": reply_by or "",
                "created_at_ms": str(now),
            },
        )
        return version

    def _event(self, mid: str, rk: str, payload: str, fields: dict[str, Any]) -> None:
        self._outbox(mid, "gateway.events", rk, 0, payload, fields)

    def _stat(self, name: str, by: int = 1) -> None:
        self.d.hincrby(self.k("stats"), name, by)

    def _assign(self, cid: str, agent: str, now: int, payload: str) -> tuple[str, str]:
        d, k = self.d, self.cv(cid)
        since = d.hget(k, "waiting_since")
        version = d.hget(k, "routing_version") or "0"
        self._unwait(cid)
        d.hset(k, assignee=agent, claimed_at=now, updated_at=now, ever_claimed="1")
        d.sadd(self.k("ag", agent, "active"), cid)
        waited = ""
        if not _empty(since):
            waited = str(now - int(since))  # type: ignore[arg-type]
            self._stat("claimed")
            self._stat("claim_wait_ms", int(waited))
        self._event(
            f"conversation.assigned:{cid}:{version}:{agent}",
            "conversation.assigned",
            payload,
            {
                "conversation_id": cid,
                "contact_id": d.hget(k, "contact_id"),
                "agent": agent,
                "routing_version": version,
                "waited_ms": waited,
                "occurred_at_ms": str(now),
            },
        )
        return version, waited

    def _stop_clock(self, cid: str) -> None:
        k = self.cv(cid)
        if not _empty(self.d.hget(k, "awaiting_since")) and self.d.hget(k, "sla_state") == "breached":
            self._stat("sla_unanswered")
        self.d.hset(k, awaiting_since="", reply_by="", warn_by="")
        self.d.zrem(self.k("idx", "awaiting"), cid)
        if self.d.hget(k, "sla_state") != "breached":
            self.d.hset(k, sla_state="none")

    def _pause_clock(self, cid: str, now: int) -> None:
        """Pending pauses the clock (lib.lua ``pause_clock``)."""
        d, k = self.d, self.cv(cid)
        state = d.hget(k, "sla_state")
        if not _empty(d.hget(k, "awaiting_since")) and state in ("active", "warning"):
            reply_by = int(d.hget(k, "reply_by") or now)
            warn_by = int(d.hget(k, "warn_by") or reply_by)
            warn_left = -1 if state == "warning" else max(0, warn_by - now)
            d.hset(k, paused_left=max(0, reply_by - now), paused_warn_left=warn_left)
        self._stop_clock(cid)

    def _clear_pause(self, cid: str) -> None:
        self.d.hset(self.cv(cid), paused_left="", paused_warn_left="")

    def _arm_or_resume(self, cid: str, received: int, reply_by: int, warn_by: int) -> None:
        d, k = self.d, self.cv(cid)
        left = d.hget(k, "paused_left")
        if _empty(left):
            self._arm_clock(cid, received, reply_by, warn_by, now=-1)
            return
        warn_left = int(d.hget(k, "paused_warn_left") or 0)
        self._clear_pause(cid)
        self._arm_clock(cid, received, received + int(left), received + warn_left, now=received - 1)  # type: ignore[arg-type]

    def _arm_clock(self, cid: str, since: int, reply_by: int, warn_by: int, *, now: int) -> None:
        d, k = self.d, self.cv(cid)
        seq = d.hincrby(k, "reply_seq")
        state = "warning" if warn_by <= now else "active"  # its warning is past: the breach is next
        d.hset(k, awaiting_since=since, reply_by=reply_by, warn_by=warn_by, sla_state=state)
        d.zadd(self.k("idx", "awaiting"), reply_by, cid)
        if state == "active":
            d.zadd(self.k("timers"), warn_by, f"sla_warn|{cid}|{seq}")
        d.zadd(self.k("timers"), reply_by, f"sla_breach|{cid}|{seq}")

    def _rearm_after_failure(self, cid: str, mid: str, now: int) -> None:
        """A reply that ended failed or undelivered gives back the deadline it cleared (lib.lua)."""
        d, mk, k = self.d, self.cv(cid, "m", mid), self.cv(cid)
        since = d.hget(mk, "answered_since")
        if _empty(since):
            return
        d.hset(mk, answered_since="")
        if d.hget(k, "status") == "resolved":
            return
        current = d.hget(k, "awaiting_since")
        if not _empty(current) and int(current) <= int(since):  # type: ignore[arg-type]
            return
        reply_by = int(d.hget(mk, "answered_reply_by"))  # type: ignore[arg-type]
        warn_by = int(d.hget(mk, "answered_warn_by") or reply_by)  # type: ignore[arg-type]
        self._stat("replies", -1)
        self._stat("reply_ms", -int(d.hget(mk, "answered_ms")))  # type: ignore[arg-type]
        self._stat("sla_met" if d.hget(mk, "answered_met") == "1" else "sla_missed", -1)
        self._arm_clock(cid, int(since), reply_by, warn_by, now=now)  # type: ignore[arg-type]

    @staticmethod
    def _moves_forward(current: str | None, new: str) -> bool:
        if _empty(current):
            return True
        if current in ("failed", "undelivered"):
            return False
        rank = {s.value: r for s, r in STATUS_RANK.items()}
        return rank.get(new, -1) > rank.get(current, -1)  # type: ignore[arg-type]

    # contacts and conversations ------------------------------------------------

    async def peek_duplicate(self, channel: str, external_id: str) -> IngestResult | None:
        seen = self.d.get(self.k("dd", channel, external_id))
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
        d = self.d
        seen = d.get(self.k("dd", channel, external_id))
        if seen:
            return prepared_result({"duplicate": seen})
        out: dict[str, Any] = {}
        contact = next((c for c in (d.get(self.k("id", key)) for key in identity_keys) if c), None)
        cid = next((c for c in (d.get(self.k("thr", ref)) for ref in thread_refs) if c), None)
        if contact:
            out["contact"] = contact
            out["attrs"] = d.hgetall(self.ct(contact, "attrs"))
            if not cid and by_contact:
                cid = d.get(self.k("open", contact, channel, endpoint))
        if cid:
            h = d.hgetall(self.cv(cid))
            if h.get("status"):
                out["conversation"] = {
                    "id": cid,
                    "status": h["status"],
                    "assignee": h.get("assignee", ""),
                    "waiting_since": h.get("waiting_since", ""),
                    "resolved_at": h.get("resolved_at", ""),
                    "routing_version": h.get("routing_version", "0"),
                    "flags": sorted(d.smembers(self.cv(cid, "flags"))),
                    "attrs": d.hgetall(self.cv(cid, "attrs")),
                }
        return prepared_result(out)

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
            elif status == "resolved" and plan.opens:
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
            if plan.opens:
                self._set_status(cid, status, "open")
        if pointer:
            d.set(pointer, cid)
            d.sadd(self.ct(contact_id, "ptrs"), pointer)
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
        if plan.flags_add:
            d.sadd(self.cv(cid, "flags"), *plan.flags_add)
        if plan.flags_remove:
            d.srem(self.cv(cid, "flags"), *plan.flags_remove)
        for kind, argument, delay in plan.timers:
            d.zadd(self.k("timers"), now + int(delay), f"{kind}|{cid}|{argument}")
        if _empty(d.hget(k, "subject")) and plan.subject:
            d.hset(k, subject=plan.subject)

        win = plan.window_expires_ms
        if win > 0 and win > int(d.hget(k, "window_expires_at") or 0):
            d.hset(k, window_expires_at=win)
            d.zadd(self.k("timers"), plan.window_warn_ms, f"window_closing|{cid}|{win}")

        if plan.route and plan.reply_by_ms > 0 and _empty(d.hget(k, "awaiting_since")):
            self._arm_or_resume(cid, plan.received_ms, plan.reply_by_ms, plan.warn_ms)

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
        index = self.listing_index(status=status, queue=queue, contact_id=contact_id)
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

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None:
        h = self.d.hgetall(self.cv(conversation_id, "m", message_id))
        return message_from_record(h) if h else None

    async def thread_ids(self, conversation_id: str) -> list[str]:
        return sorted(self.d.smembers(self.cv(conversation_id, "threads")))

    # assignment and routing (claim.lua, claim_next.lua, reroute.lua, ...) -------------

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
        reply = self._claim(conversation_id, agent, version, capacity, now_ms, payload, queues)
        return claim_outcome(reply, conversation_id)

    def _may_serve(self, cid: str, queues: list[str] | None) -> bool:
        """lib.lua ``may_serve``: any queue (None), an unrouted conversation, or one of ``queues``."""
        queue = self.d.hget(self.cv(cid), "queue")
        return queues is None or _empty(queue) or queue in queues

    def _claim(
        self, cid: str, agent: str, version: int | None, capacity: int, now: int, payload: str, queues: list[str] | None
    ) -> list[str]:
        d, k = self.d, self.cv(cid)
        status = d.hget(k, "status")
        if status is None:
            return ["not_found"]
        if status == "resolved":
            return ["resolved"]
        current = d.hget(k, "routing_version") or "0"
        assignee = d.hget(k, "assignee") or ""
        if version is not None and str(version) != current:
            return ["stale", current, assignee]
        if not _empty(assignee):
            return ["ok", current, "already"] if assignee == agent else ["taken", current, assignee]
        if not self._may_serve(cid, queues):
            return ["not_qualified", current]
        if capacity > 0 and len(d.smembers(self.k("ag", agent, "active"))) >= capacity:
            return ["capacity", current]
        _, waited = self._assign(cid, agent, now, payload)
        return ["ok", current, "", waited]

    async def claim_next(self, agent: str, queues: list[str], *, capacity: int, now_ms: int, payload: str) -> Outcome:
        d = self.d
        if capacity > 0 and len(d.smembers(self.k("ag", agent, "active"))) >= capacity:
            return Outcome(ok=False, reason="capacity")
        for _ in range(100):
            best = best_score = best_q = None
            for q in queues:
                top = d.zrange_by_score(self.k("wait", q), float("-inf"), float("inf"), limit=1)
                if top and (best_score is None or top[0][1] < best_score):
                    best, best_score, best_q = top[0][0], top[0][1], q
            if best is None:
                return Outcome(ok=False, reason="empty")
            k = self.cv(best)
            status = d.hget(k, "status")
            if status and status != "resolved" and _empty(d.hget(k, "assignee")) and d.hget(k, "queue") == best_q:
                version, waited = self._assign(best, agent, now_ms, payload)
                return Outcome(
                    ok=True,
                    conversation_id=best,
                    routing_version=int(version),
                    assignee=agent,
                    waited_ms=int(waited) if waited else None,
                )
            d.zrem(self.k("wait", best_q), best)  # type: ignore[arg-type]
            d.zrem(self.k("waitage", best_q), best)  # type: ignore[arg-type]
        return Outcome(ok=False, reason="empty")

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
        d, k = self.d, self.cv(conversation_id)
        status = d.hget(k, "status")
        if status is None:
            reply = ["not_found"]
        elif status == "resolved":
            reply = ["resolved"]
        else:
            current = d.hget(k, "routing_version") or "0"
            if expected_version is not None and str(expected_version) != current:
                reply = ["stale", current]
            elif only_unassigned and not _empty(d.hget(k, "assignee")):
                reply = ["taken", current]
            else:
                version = self._offer(
                    conversation_id,
                    queue,
                    priority,
                    reason,
                    now_ms,
                    decision_json or None,
                    target_index,
                    escalate_after_ms,
                    payload,
                    keep_wait,
                )
                reply = ["ok", str(version)]
        return version_outcome(reply, conversation_id)

    async def resolve(self, conversation_id: str, *, by: str, now_ms: int, payload: str) -> Outcome:
        d, cid, k = self.d, conversation_id, self.cv(conversation_id)
        status = d.hget(k, "status")
        if status is None or status == "resolved":
            reason = "not_found" if status is None else "already"
            return Outcome(ok=False, reason=reason, conversation_id=cid)
        assignee = d.hget(k, "assignee")
        if not _empty(assignee):
            d.srem(self.k("ag", assignee, "active"), cid)  # type: ignore[arg-type]
        if int(d.hget(k, "routing_version") or 0) > 0 and _empty(d.hget(k, "ever_claimed")):
            self._stat("abandoned")
        self._unwait(cid)
        q = d.hget(k, "queue")
        if not _empty(q):
            d.zrem(self.k("idx", "q", q), cid)  # type: ignore[arg-type]
        d.hset(k, resolved_at=now_ms, updated_at=now_ms)
        self._stop_clock(cid)
        self._clear_pause(cid)
        self._set_status(cid, status, "resolved")
        self._event(
            f"conversation.resolved:{cid}:{now_ms}",
            "conversation.resolved",
            payload,
            {
                "conversation_id": cid,
                "contact_id": d.hget(k, "contact_id"),
                "by": by,
                "assignee": assignee or "",
                "occurred_at_ms": str(now_ms),
            },
        )
        return Outcome(ok=True, conversation_id=cid)

    async def set_pending(self, conversation_id: str, *, now_ms: int) -> Outcome:
        d, k = self.d, self.cv(conversation_id)
        status = d.hget(k, "status")
        if status is None or status == "resolved":
            reason = "not_found" if status is None else "resolved"
            return Outcome(ok=False, reason=reason, conversation_id=conversation_id)
        if _empty(d.hget(k, "assignee")):
            self._unwait(conversation_id)
        d.hset(k, updated_at=now_ms)
        self._pause_clock(conversation_id, now_ms)
        self._set_status(conversation_id, status, "pending")
        return Outcome(ok=True, conversation_id=conversation_id)

    async def active_conversations(self, agent: str) -> set[str]:
        return self.d.smembers(self.k("ag", agent, "active"))

    async def awaiting_between(self, low_ms: int, high_ms: int, *, limit: int) -> list[Conversation]:
        found = self.d.zrange_by_score(self.k("idx", "awaiting"), low_ms, high_ms, limit=limit)
        return [c for c in (self._conversation(cid) for cid, _ in found) if c is not None]

    async def queue_stats(self, queues: list[str]) -> dict[str, QueueStats]:
        out = {}
        for q in queues:
            oldest = self.d.zrange_by_score(self.k("waitage", q), float("-inf"), float("inf"), limit=1)
            out[q] = QueueStats(
                waiting=self.d.zcard(self.k("wait", q)), oldest_wait_ms=int(oldest[0][1]) if oldest else None
            )
        return out

    async def stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.d.hgetall(self.k("stats")).items()}

    async def add_counts(self, counts: dict[str, int], *, once: str = "", once_ttl_ms: int = 0) -> bool:
        if once and not self.d.set(self.k("once", once), "1", px=max(1, once_ttl_ms), nx=True):
            return False
        for name, by in counts.items():
            self._stat(name, int(by))
        return True

    async def merge_contacts(self, keep: str, other: str, *, by: str, now_ms: int, payload: str) -> Outcome:
        d = self.d
        if keep == other:
            return Outcome(ok=False, reason="same")
        if not d.hgetall(self.ct(keep)) or not d.hgetall(self.ct(other)):
            return Outcome(ok=False, reason="not_found")
        if not _empty(d.hget(self.ct(other), "merged_into")):
            return Outcome(ok=False, reason="already")
        if not _empty(d.hget(self.ct(keep), "merged_into")):
            return Outcome(ok=False, reason="merged_keep")
        for ik in d.smembers(self.ct(other, "ids")):
            d.set(self.k("id", ik), keep)
            d.sadd(self.ct(keep, "ids"), ik)
        d.delete(self.ct(other, "ids"))
        for cid, score in d.zrange_by_score(self.ct(other, "convs"), float("-inf"), float("inf")):
            d.zadd(self.ct(keep, "convs"), score, cid)
            d.hset(self.cv(cid), contact_id=keep)
        d.delete(self.ct(other, "convs"))
        old_prefix = self.k("open", other) + ":"
        for ptr in d.smembers(self.ct(other, "ptrs")):
            moved = self.k("open", keep) + ":" + ptr[len(old_prefix) :]
            target = d.get(ptr)
            if target and d.get(moved) is None:
                d.set(moved, target)
                d.sadd(self.ct(keep, "ptrs"), moved)
            d.delete(ptr)
        d.delete(self.ct(other, "ptrs"))
        keep_attrs = self.ct(keep, "attrs")
        for name, value in d.hgetall(self.ct(other, "attrs")).items():
            if d.hget(keep_attrs, name) is None:
                d.hset_map(keep_attrs, {name: value})
        if _empty(d.hget(self.ct(keep), "name")):
            d.hset(self.ct(keep), name=d.hget(self.ct(other), "name") or "")
        d.hset(self.ct(other), merged_into=keep)
        self.audit.insert(
            0, json.dumps({"action": "contact.merged", "keep": keep, "other": other, "by": by, "at_ms": now_ms})
        )
        del self.audit[10000:]
        self._event(
            f"contact.merged:{other}",
            "contact.merged",
            payload,
            {"contact_id": keep, "merged_contact_id": other, "by": by, "occurred_at_ms": str(now_ms)},
        )
        return Outcome(ok=True)

    # outbound messages and delivery status (outbound.lua, send_result.lua, status.lua) --

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
        d, cid, mid, now = self.d, conversation_id, message_id, now_ms
        k = self.cv(cid)
        if d.hget(k, "status") is None:
            return Outcome(ok=False, reason="not_found", conversation_id=cid)
        if claim and agent:
            assignee = d.hget(k, "assignee")
            if _empty(assignee):
                if not self._may_serve(cid, queues):
                    return Outcome(ok=False, reason="not_qualified", conversation_id=cid)
                if capacity > 0 and len(d.smembers(self.k("ag", agent, "active"))) >= capacity:
                    return Outcome(ok=False, reason="capacity", conversation_id=cid)
                self._assign(cid, agent, now, assigned_payload)
            elif assignee != agent:
                return Outcome(ok=False, reason="not_assignee", conversation_id=cid, assignee=assignee)
        d.hset(
            self.cv(cid, "m", mid),
            json=message_json,
            conversation_id=cid,
            direction=kind,
            status="queued" if kind == "outbound" else "",
            error="",
            external_id="",
            attempts=0,
        )
        d.rpush(self.cv(cid, "msgs"), mid)
        d.hincrby(k, "message_count")
        d.hset(k, updated_at=now)
        if kind != "outbound":
            return Outcome(ok=True, conversation_id=cid, message_id=mid)
        d.hset(k, last_outbound_at=now)
        first_ms = None
        if agent:
            self._clear_pause(cid)  # answered while paused: nothing is left to resume
            awaiting = d.hget(k, "awaiting_since")
            if not _empty(awaiting):
                reply_by = int(d.hget(k, "reply_by") or 0)
                met = reply_by > 0 and now <= reply_by
                self._stat("replies")
                self._stat("reply_ms", now - int(awaiting))  # type: ignore[arg-type]
                self._stat("sla_met" if met else "sla_missed")
                # Kept on the reply, so a send that fails can give the deadline back.
                d.hset(
                    self.cv(cid, "m", mid),
                    answered_since=awaiting,
                    answered_reply_by=reply_by,
                    answered_warn_by=d.hget(k, "warn_by") or "",
                    answered_ms=now - int(awaiting),  # type: ignore[arg-type]
                    answered_met="1" if met else "0",
                )
                d.hset(k, sla_state="none")
                self._stop_clock(cid)
            if _empty(d.hget(k, "first_response_at")):
                first = now - int(d.hget(k, "created_at"))  # type: ignore[arg-type]
                d.hset(k, first_response_at=now, first_response_ms=first)
                first_ms = first
                self._stat("first_responses")
                self._stat("first_response_ms", first)
        if send:
            d.zadd(self.k("timers"), now, f"send|{cid}|{mid}")
        self._event(
            f"message.outbound:{mid}",
            "message.outbound",
            payload,
            {"conversation_id": cid, "contact_id": d.hget(k, "contact_id"), "occurred_at_ms": str(now)},
        )
        return Outcome(ok=True, conversation_id=cid, message_id=mid, first_response_ms=first_ms)

    def _apply_status(self, cid: str, mid: str, status: str, error: str, now_ms: int, payload: str) -> bool:
        mk = self.cv(cid, "m", mid)
        if not self._moves_forward(self.d.hget(mk, "status"), status):
            return False
        self.d.hset(mk, status=status)
        if error:
            self.d.hset(mk, error=error)
        self._event(
            f"message.status:{mid}:{status}",
            "message.status",
            payload,
            {
                "conversation_id": cid,
                "message_id": mid,
                "status": status,
                "error": error,
                "occurred_at_ms": str(now_ms),
            },
        )
        if status in ("failed", "undelivered"):
            self._rearm_after_failure(cid, mid, now_ms)
        return True

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
        d, cid, mid = self.d, conversation_id, message_id
        mk = self.cv(cid, "m", mid)
        if not d.hgetall(mk):
            return Outcome(ok=False, reason="not_found", conversation_id=cid, message_id=mid)
        d.hincrby(mk, "attempts")
        if outcome == "retry":
            d.hset(mk, error=error)
        else:
            new = "failed" if outcome == "failed" else status
            if outcome == "sent":
                d.hset(mk, error="")  # an earlier attempt's error is over
            if outcome == "sent" and external_id:
                d.hset(mk, external_id=external_id)
                d.set(self.k("ext", channel, external_id), f"{cid}|{mid}", px=ext_ttl_ms)
                if channel == "email":
                    d.set(self.k("thr", external_id), cid)
                    d.sadd(self.cv(cid, "threads"), external_id)
            self._apply_status(cid, mid, new, error, now_ms, payload)
            if outcome == "sent" and external_id:
                for item in self.early.pop(f"{channel}:{external_id}", []):
                    early_status, _, early_error = item.partition("|")
                    self._apply_status(cid, mid, early_status, early_error, now_ms, payload)
        return Outcome(ok=True, conversation_id=cid, message_id=mid, status=d.hget(mk, "status") or None)

    async def apply_status(
        self, channel: str, external_id: str, *, status: str, error: str, now_ms: int, payload: str, early_ttl_ms: int
    ) -> Outcome:
        ref = self.d.get(self.k("ext", channel, external_id))
        if ref is None:
            self.early.setdefault(f"{channel}:{external_id}", []).append(f"{status}|{error}")
            return status_outcome(["unknown"])
        cid, _, mid = ref.partition("|")
        if not self._apply_status(cid, mid, status, error, now_ms, payload):
            return status_outcome(["ignored", cid, mid, self.d.hget(self.cv(cid, "m", mid), "status") or ""])
        return status_outcome(["ok", cid, mid, status])

    # timers (timers_due.lua, sla.lua) ------------------------------------------------

    async def timers_due(self, now_ms: int, *, limit: int, lease_ms: int) -> list[DueTimer]:
        due = self.d.zrange_by_score(self.k("timers"), float("-inf"), now_ms, limit=limit)
        for member, _ in due:
            self.d.zadd(self.k("timers"), now_ms + lease_ms, member)
        return [DueTimer(member=m, due_ms=int(score)) for m, score in due]

    async def timer_set(self, member: str, due_ms: int) -> None:
        self.d.zadd(self.k("timers"), due_ms, member)

    async def timer_done(self, member: str) -> None:
        self.d.zrem(self.k("timers"), member)

    async def timer_count(self) -> int:
        return self.d.zcard(self.k("timers"))

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
        d, cid, k = self.d, conversation_id, self.cv(conversation_id)
        noop = Outcome(ok=False, reason="noop", conversation_id=cid)
        if d.hget(k, "status") is None:
            return noop
        if d.hget(k, "reply_seq") != seq or _empty(d.hget(k, "awaiting_since")):
            return noop
        state = d.hget(k, "sla_state")
        fields = {
            "conversation_id": cid,
            "contact_id": d.hget(k, "contact_id"),
            "reply_by_ms": d.hget(k, "reply_by"),
            "awaiting_since_at_ms": d.hget(k, "awaiting_since"),
            "assignee": d.hget(k, "assignee") or "",
            "queue": d.hget(k, "queue") or "",
            "occurred_at_ms": str(now_ms),
        }
        if kind == "warn":
            if state != "active":
                return noop
            d.hset(k, sla_state="warning")
            if priority > 0:  # for a warning: how much the priority rises
                self._raise_priority(cid, min(9, int(d.hget(k, "priority") or 0) + priority))
            self._stat("sla_warnings")
            self._event(f"sla.warning:{cid}:{seq}", "sla.warning", payload, fields)
            return Outcome(ok=True, conversation_id=cid)
        if state == "breached":
            return noop
        d.hset(k, sla_state="breached")
        d.hincrby(k, "sla_breaches")
        self._stat("sla_breaches")
        self._event(f"sla.breached:{cid}:{seq}", "sla.breached", payload, fields)
        if queue:
            target_index = int(d.hget(k, "target_index") or 0)
            self._offer(cid, queue, priority, "sla_breach", now_ms, None, target_index, 0, offer_payload, False)
        return Outcome(ok=True, conversation_id=cid)

    def _raise_priority(self, cid: str, priority: int) -> None:
        """Never lower; the waiting set follows (lib.lua ``raise_priority``)."""
        d, k = self.d, self.cv(cid)
        if priority <= int(d.hget(k, "priority") or 0):
            return
        d.hset(k, priority=priority)
        since, q = d.hget(k, "waiting_since"), d.hget(k, "queue")
        if not _empty(since) and not _empty(q):
            score = self._wait_score(priority, d.hget(k, "reply_by"), int(since))  # type: ignore[arg-type]
            d.zadd(self.k("wait", q), score, cid)  # type: ignore[arg-type]

    async def window_closing(
        self, conversation_id: str, expires_ms: str, *, now_ms: int, payload: str, priority: int
    ) -> Outcome:
        d, cid, k = self.d, conversation_id, self.cv(conversation_id)
        status = d.hget(k, "status")
        noop = Outcome(ok=False, reason="noop", conversation_id=cid)
        if status is None or status == "resolved" or d.hget(k, "window_expires_at") != expires_ms:
            return noop
        if _empty(d.hget(k, "awaiting_since")):
            return noop
        self._raise_priority(cid, priority)
        self._event(
            f"window.closing:{cid}:{expires_ms}",
            "window.closing",
            payload,
            {
                "conversation_id": cid,
                "contact_id": d.hget(k, "contact_id"),
                "window_expires_at_ms": expires_ms,
                "assignee": d.hget(k, "assignee") or "",
                "occurred_at_ms": str(now_ms),
            },
        )
        return Outcome(ok=True, conversation_id=cid)

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

    # shared values (shared_delete_if.lua) ------------------------------------------

    async def shared_get(self, key: str) -> str | None:
        return self.d.get(self.k("shared", key))

    async def shared_set(self, key: str, value: str, *, ttl_ms: int) -> None:
        self.d.set(self.k("shared", key), value, px=max(1, ttl_ms))

    async def shared_set_if_absent(self, key: str, value: str, *, ttl_ms: int) -> bool:
        return self.d.set(self.k("shared", key), value, px=max(1, ttl_ms), nx=True)

    async def shared_delete_if(self, key: str, value: str) -> bool:
        k = self.k("shared", key)
        if self.d.get(k) != value:
            return False
        self.d.delete(k)
        return True
