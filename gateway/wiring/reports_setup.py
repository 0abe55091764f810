"""Satisfaction surveys wired in: their timer, and their answers read before anything else
(an answer "5" or "退订" to a survey is not an FAQ question nor a new request)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.reports.surveys import SEND, THANK, Surveys
from gateway.wiring.services import Services

SURVEYS = web.AppKey("surveys", Surveys)
CHECK_EVERY = 60.0  # seconds between looks at whether a periodic survey is due

log = logging.getLogger(__name__)


def surveys_part(services: Services, clock: Callable[[], float]) -> Surveys:
    surveys = Surveys(store=services.store, outbound=services.outbound, wake=services.timers.wake, clock=clock)
    services.ingest.interceptors.insert(0, surveys)
    services.timers.register(SEND, surveys.on_send)
    services.timers.register(THANK, surveys.on_thanks)
    return surveys


def periodic_surveys(
    services: Services, surveys: Surveys, clock: Callable[[], float]
) -> Callable[[web.Application], AsyncIterator[None]] | None:
    """With ``surveys.every``: a task that sends each period's survey once it has ended
    (once across processes: the first to take the period's marker sends it)."""
    config = services.config.surveys
    if config.every is None:
        return None
    every_ms = int(config.every * 1000)

    async def loop() -> None:
        while True:
            try:
                await surveys.run_due(int(clock() * 1000), every_ms, list(config.channels), config.question)
            except Exception:
                log.exception("periodic survey failed; tried again later")
            await asyncio.sleep(CHECK_EVERY)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(loop(), name="periodic-surveys")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return lifecycle
