"""The outbox relay: from durable outbox entries to confirmed RabbitMQ messages.

Every gateway process runs one. Entries are handed out by the store (a Redis stream
consumer group), published in batches (one socket write and one wait for the confirms
per batch, several batches outstanding) with publisher confirms, and acknowledged only
once confirmed, in bulk (one ``XACK``/``XDEL`` per run of confirms). Entries a process took and could not publish stay pending: it retries
them itself, and if it dies another process reclaims them after ``reclaim_idle``.
A broker outage therefore delays delivery and never loses or blocks intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
import re
import socket
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway import metrics
from gateway.routing.publisher import Outgoing, Publisher, PublishFailed
from gateway.routing.topology import EVENTS_EXCHANGE
from gateway.storage.base import OutboxEntry, StorageUnavailable, Store

log = logging.getLogger(__name__)


def build_body(entry: OutboxEntry) -> bytes:
    """The AMQP body: the payload written by Python plus the values the store filled in.

    Fields named ``*_at_ms`` (and ``reply_by_ms``) are epoch milliseconds and become ISO
    8601 without the suffix; other ``*_ms`` fields are durations in milliseconds. An
    embedded ``message`` gets the conversation id it was stored under.
    """
    body: dict[str, Any] = orjson.loads(entry.payload)
    for name, value in orjson.loads(entry.fields).items():
        if name.endswith("_at_ms") or name == "reply_by_ms":
            body[name[:-3]] = (
                datetime.fromtimestamp(int(value) / 1000, UTC).isoformat().replace("+00:00", "Z") if value else None
            )
        elif name.endswith("_ms"):
            body[name] = int(value) if value not in ("", None) else None
        elif name in ("routing_version", "priority"):
            body[name] = int(value)
        else:
            body[name] = value
    if isinstance(body.get("message"), dict) and "conversation_id" in body:
        body["message"]["conversation_id"] = body["conversation_id"]
    return orjson.dumps(body)


def to_outgoing(entry: OutboxEntry) -> Outgoing:
    payload_type = entry.routing_key if entry.exchange != "gateway.work" else "conversation.offer"
    return Outgoing(
        exchange=entry.exchange,
        routing_key=entry.routing_key,
        body=build_body(entry),
        message_id=entry.message_id,
        priority=max(0, min(9, entry.priority)),
        type=payload_type,
        timestamp=entry.created_ms / 1000,
    )


ACK_BATCH = 128  # acknowledge at once when this many are confirmed
ACK_LINGER = 0.005  # else wait this long for more before writing the acknowledgements


class OutboxRelay:
    """Keeps up to ``inflight`` publishes outstanding, like a raw publisher would.

    A reader hands entries to one task per batch (at most a quarter of the window, so
    that batches overlap); confirmed entries are acknowledged to the store in bulk by a
    separate flusher. An entry is "ours" from the read until its
    acknowledgement is written, so a retry of our own pending entries never re-publishes
    one that is still in flight.
    """

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        *,
        consumer: str | None = None,
        inflight: int = 1024,
        reclaim_idle: float = 30.0,
        block: float = 1.0,
        events: str | list[str] = "all",
    ) -> None:
        self.store = store
        self.publisher = publisher
        self._wanted = None if events == "all" else [re.compile(fnmatch.translate(p)) for p in events]
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self.max_inflight = inflight
        self.reclaim_idle_ms = int(reclaim_idle * 1000)
        self.block_ms = int(block * 1000)
        self._mine: set[str] = set()  # read and not yet acknowledged in the store
        self._publishing = 0
        self._room = asyncio.Event()
        self._to_ack: list[str] = []
        self._ack_wanted = asyncio.Event()
        self._retry_own = True  # first pick up anything this consumer name left pending
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.published = 0
        self.failed = 0

    def _skipped(self, entry: OutboxEntry) -> bool:
        """An event no one consumes (``broker.events``): acknowledged without a publish."""
        if self._wanted is None or entry.exchange != EVENTS_EXCHANGE:
            return False
        return not any(p.match(entry.routing_key) for p in self._wanted)

    async def _publish(self, batch: list[OutboxEntry]) -> None:
        outcomes: list[PublishFailed | None] = []
        try:
            sending: list[OutboxEntry] = []
            messages: list[Outgoing] = []
            for entry in batch:
                if self._skipped(entry):
                    continue
                try:
                    messages.append(to_outgoing(entry))
                    sending.append(entry)
                except (ValueError, KeyError) as exc:  # a corrupt entry must not jam the relay
                    log.error("outbox entry %s cannot be built, dropping it: %s", entry.message_id, exc)
            try:
                outcomes = await self.publisher.publish_many(messages) if messages else []
            except Exception as exc:  # a bug below must not strand the batch: it is retried
                log.exception("outbox batch not published")
                outcomes = [PublishFailed(type(exc).__name__)] * len(messages)
        finally:
            self._publishing -= len(batch)
            self._room.set()
        failed = {entry.entry_id: outcome for entry, outcome in zip(sending, outcomes, strict=True) if outcome}
        confirmed: dict[str, int] = {}
        for entry in batch:
            reason = failed.get(entry.entry_id)
            if reason is None:
                confirmed[entry.exchange] = confirmed.get(entry.exchange, 0) + 1
                self._to_ack.append(entry.entry_id)
            else:
                log.debug("outbox entry %s not confirmed: %s", entry.message_id, reason)
                metrics.PUBLISHES.labels(entry.exchange, "failed").inc()
                self._mine.discard(entry.entry_id)
        for exchange, count in confirmed.items():
            metrics.PUBLISHES.labels(exchange, "confirmed").inc(count)
        self.published += len(batch) - len(failed)
        if failed:
            self.failed += len(failed)
            self._retry_own = True
        if len(failed) < len(batch):
            self._ack_wanted.set()

    def _dispatch(self, entries: list[OutboxEntry]) -> None:
        fresh = [entry for entry in entries if entry.entry_id not in self._mine]  # else still in flight
        size = max(1, self.max_inflight // 4)
        for start in range(0, len(fresh), size):
            batch = fresh[start : start + size]
            self._mine.update(entry.entry_id for entry in batch)
            self._publishing += len(batch)
            task = asyncio.create_task(self._publish(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush_acks(self) -> None:
        while not self._stopping.is_set() or self._to_ack:
            if not self._to_ack:
                self._ack_wanted.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ack_wanted.wait(), 0.5)
                continue
            if len(self._to_ack) < ACK_BATCH and not self._stopping.is_set():
                await asyncio.sleep(ACK_LINGER)  # confirms come in runs: acknowledge them together
            ids, self._to_ack = self._to_ack, []
            try:
                await self.store.outbox_ack(ids)
                self._mine.difference_update(ids)
            except StorageUnavailable:
                self._to_ack[:0] = ids  # acknowledged later; at worst republished (same message_id)
                if self._stopping.is_set():
                    return
                await asyncio.sleep(0.5)

    async def _wait_for_room(self) -> None:
        """Refill the window in batches: confirms arrive one by one, and reading the outbox
        for every single free slot would make the reads, not the broker, the limit."""
        refill = max(1, self.max_inflight // 4)
        while self.max_inflight - self._publishing < refill and not self._stopping.is_set():
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), 1.0)

    async def run(self) -> None:
        flusher = asyncio.create_task(self._flush_acks(), name="outbox-acks")
        backoff = 0.2
        next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
        try:
            while not self._stopping.is_set():
                try:
                    if not self.publisher.ready():
                        await self._sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                    await self._wait_for_room()
                    room = self.max_inflight - self._publishing
                    if time.monotonic() >= next_reclaim:
                        next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
                        stale = await self.store.outbox_reclaim(
                            self.consumer, min_idle_ms=self.reclaim_idle_ms, count=room
                        )
                        if stale:
                            log.info("reclaimed %d outbox entries of a stalled relay", len(stale))
                            self._dispatch(stale)
                        continue
                    if self._retry_own:
                        if self.failed and self._publishing:
                            await self._sleep(0.05)  # let the outstanding ones finish first
                            continue
                        self._retry_own = False
                        own = await self.store.outbox_read(
                            self.consumer, count=self.max_inflight, block_ms=0, retry_own=True
                        )
                        if own and self.failed:
                            await self._sleep(backoff)
                            backoff = min(backoff * 2, 5.0)
                        self._dispatch(own)
                        continue
                    entries = await self.store.outbox_read(
                        self.consumer, count=room, block_ms=self.block_ms, retry_own=False
                    )
                    self._dispatch(entries)
                    backoff = 0.2
                except StorageUnavailable:
                    log.warning("outbox relay: storage unavailable, retrying")
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbox relay error")
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            self._stopping.set()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=5)
            self._ack_wanted.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(flusher, 5)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) until the outbox is empty; used on shutdown."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (await self.store.outbox_stats()).depth == 0:
                    return True
            except StorageUnavailable:
                return False
            await asyncio.sleep(0.05)
        return False

    def stop(self) -> None:
        self._stopping.set()
