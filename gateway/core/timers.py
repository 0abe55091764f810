"""The due-timer scanner: every deadline the gateway keeps lives in one sorted set.

Each process scans; a due timer is leased atomically to exactly one of them (its score
moves ahead by the lease), handled, then removed or rescheduled. A process that dies
mid-handling loses nothing: the lease runs out and another process takes the timer.
Handlers are idempotent (their writes are conditional), so a rare second run is a no-op.
A scan costs O(log N + due) whatever the number of open deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from gateway import metrics
from gateway.model import ServiceUnavailable
from gateway.storage.base import DueTimer, Store

log = logging.getLogger(__name__)

# A handler returns None when the timer is done, or the epoch ms at which to run again.
Handler = Callable[[DueTimer, int], Awaitable[int | None]]


class TimerScanner:
    def __init__(
        self,
        store: Store,
        *,
        interval: float = 0.25,
        batch: int = 200,
        lease: float = 30.0,
        concurrency: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self.lease_ms = int(lease * 1000)
        self.clock = clock
        self.handlers: dict[str, Handler] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.fired: dict[str, int] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def wake(self) -> None:
        """Scan now instead of at the next interval (e.g. a reply was just queued here)."""
        self._wake.set()

    async def _handle(self, timer: DueTimer, now_ms: int) -> None:
        async with self._sem:
            handler = self.handlers.get(timer.kind)
            try:
                if handler is None:
                    log.warning("no handler for timer kind %s; dropping it", timer.kind)
                    again = None
                else:
                    again = await handler(timer, now_ms)
                if again is None:
                    await self.store.timer_done(timer.member)
                else:
                    await self.store.timer_set(timer.member, again)
                self.fired[timer.kind] = self.fired.get(timer.kind, 0) + 1
                metrics.TIMERS.labels(timer.kind if timer.kind in self.handlers else "unknown").inc()
            except ServiceUnavailable:
                log.warning("timer %s: storage unavailable; it comes back when its lease ends", timer.kind)
            except Exception:
                log.exception(
                    "timer handler failed", extra={"timer": timer.kind, "conversation_id": timer.conversation_id}
                )

    async def scan_once(self) -> int:
        now_ms = int(self.clock() * 1000)
        due = await self.store.timers_due(now_ms, limit=self.batch, lease_ms=self.lease_ms)
        if due:
            await asyncio.gather(*(self._handle(t, now_ms) for t in due))
        return len(due)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                count = await self.scan_once()
            except ServiceUnavailable:
                count = 0
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("timer scan failed")
                count = 0
                await asyncio.sleep(1.0)
            if count >= self.batch:
                continue  # more are due: keep going
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
