"""The outbox relay: from durable outbox entries to confirmed RabbitMQ messages.

Every gateway process runs one. Entries are handed out by the store (a Redis stream
consumer group), published concurrently with publisher confirms, and acknowledged only
once confirmed. Entries a process took and could not publish stay pending: it retries
them itself, and if it dies another process reclaims them after ``reclaim_idle``.
A broker outage therefore delays delivery and never loses or blocks intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

from gateway.routing.publisher import Outgoing, Publisher, PublishFailed
from gateway.storage.base import OutboxEntry, StorageUnavailable, Store

log = logging.getLogger(__name__)


def build_body(entry: OutboxEntry) -> bytes:
    """The AMQP body: the payload written by Python plus the values the store filled in.

    Fields named ``*_at_ms`` (and ``reply_by_ms``) are epoch milliseconds and become ISO
    8601 without the suffix; other ``*_ms`` fields are durations in milliseconds. An
    embedded ``message`` gets the conversation id it was stored under.
    """
    body: dict[str, Any] = json.loads(entry.payload)
    for name, value in json.loads(entry.fields).items():
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
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


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


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        *,
        consumer: str | None = None,
        batch: int = 256,
        inflight: int = 256,
        reclaim_idle: float = 30.0,
        block: float = 1.0,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self.batch = batch
        self.reclaim_idle_ms = int(reclaim_idle * 1000)
        self.block_ms = int(block * 1000)
        self._sem = asyncio.Semaphore(inflight)
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self.published = 0
        self.failed = 0

    async def _publish(self, entry: OutboxEntry) -> bool:
        async with self._sem:
            try:
                await self.publisher.publish(to_outgoing(entry))
                return True
            except PublishFailed as exc:
                log.debug("outbox entry %s not confirmed: %s", entry.message_id, exc)
                return False
            except (ValueError, KeyError) as exc:  # a corrupt entry must not jam the relay
                log.error("outbox entry %s cannot be built, dropping it: %s", entry.message_id, exc)
                return True

    async def relay_once(self, entries: list[OutboxEntry]) -> bool:
        """Publish a batch; acknowledge what was confirmed. True when all were."""
        results = await asyncio.gather(*(self._publish(e) for e in entries))
        confirmed = [e.entry_id for e, ok in zip(entries, results, strict=True) if ok]
        await self.store.outbox_ack(confirmed)
        self.published += len(confirmed)
        self.failed += len(entries) - len(confirmed)
        return len(confirmed) == len(entries)

    async def run(self) -> None:
        retry_own = True  # first pick up anything this consumer name left pending
        backoff = 0.2
        next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_reclaim:
                    entries = await self.store.outbox_reclaim(
                        self.consumer, min_idle_ms=self.reclaim_idle_ms, count=self.batch
                    )
                    next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
                    if entries:
                        log.info("reclaimed %d outbox entries of a stalled relay", len(entries))
                elif retry_own:
                    entries = await self.store.outbox_read(self.consumer, count=self.batch, block_ms=0, retry_own=True)
                    if not entries:
                        retry_own = False
                        continue
                else:
                    self._idle.set()
                    entries = await self.store.outbox_read(
                        self.consumer, count=self.batch, block_ms=self.block_ms, retry_own=False
                    )
                if not entries:
                    continue
                self._idle.clear()
                if await self.relay_once(entries):
                    backoff = 0.2
                else:
                    retry_own = True
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
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
