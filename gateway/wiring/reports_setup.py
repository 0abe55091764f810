"""Satisfaction surveys wired in: their timer, and their answers read before anything else
(an answer "5" or "退订" to a survey is not an FAQ question nor a new request)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gateway.reports.surveys import SEND, Surveys
from gateway.wiring.services import Services

SURVEYS = web.AppKey("surveys", Surveys)


def surveys_part(services: Services, clock: Callable[[], float]) -> Surveys:
    surveys = Surveys(store=services.store, outbound=services.outbound, wake=services.timers.wake, clock=clock)
    services.ingest.interceptors.insert(0, surveys)
    services.timers.register(SEND, surveys.on_send)
    return surveys
