"""Time under the test's control: a clock that moves only when told, and the gateway's
timer scanner driven by hand, so "nothing fires" is proven by a scan at a later time
instead of a sleep of a guessed length."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from gateway.core.timers import TimerScanner
from gateway.wiring.services import SERVICES


class ManualClock:
    """A wall clock that stands still until the test moves it (``build_app(clock=...)``):
    deadlines fall due when the test says so, never because the machine was slow."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


async def stop_timer_scanner(app: web.Application) -> TimerScanner:
    """End the app's background scan loop (the scan in progress completes first), so the
    test's own ``scan_once`` calls are the only ones and finish everything they lease."""
    services = app[SERVICES]
    services.timers.stop()
    [task] = [t for t in services.tasks if t.get_name() == "timer-scanner"]
    while not task.done():
        services.timers.wake()  # the loop may be between scans, waiting out its interval
        await asyncio.wait([task], timeout=0.05)
    return services.timers


async def scan_and_publish(app: web.Application, timeout: float = 30.0) -> int:
    """One full scan at the clock's current time, then wait until the outbox relay has
    published everything the handlers wrote. Returns how many timers were handled."""
    services = app[SERVICES]
    handled = await services.timers.scan_once()
    assert await services.relay.drain(timeout), "the outbox relay did not publish everything"
    return handled
