"""The composition root: the only module that wires the parts together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

import aiohttp
from aiohttp import web

from gateway.cases.library import WorkflowLibrary
from gateway.cases.service import CASES
from gateway.channels.base import ChannelAdapter
from gateway.config import ConfigError, CsatConfig, GatewayConfig
from gateway.core.assignment import Assignment
from gateway.core.conversations import Conversations
from gateway.core.ingest import Ingest
from gateway.core.outbound import Outbound
from gateway.core.outbox import OutboxRelay
from gateway.core.reply_tracking import ReplyTracker
from gateway.core.timers import TimerScanner
from gateway.routing.publisher import Publisher, open_publisher
from gateway.routing.reload import LoadedRules, RulesManager, load_at_startup
from gateway.routing.router import RouterHolder, SingleQueueRouter
from gateway.routing.rules import RulesError
from gateway.selfservice.faq_book import FaqError
from gateway.selfservice.faq_library import FaqLibrary
from gateway.selfservice.knowledge import KnowledgeBase, KnowledgeError
from gateway.selfservice.ratings import RATINGS, Ratings
from gateway.selfservice.service import SELF_SERVICE, SelfService
from gateway.storage import Store, open_store
from gateway.web import (
    attachments_api,
    cases_api,
    console,
    conversation_api,
    feedback,
    health,
    knowledge_api,
    metrics_api,
    openapi,
    ops_api,
    read_api,
    reports_api,
    routing_api,
    shutdown,
    stats_api,
    typing_api,
    verification_api,
    webchat_status,
)
from gateway.web.auth import TokenTable, make_auth_middleware
from gateway.web.console_feed import FEED, EventFeed, open_source
from gateway.web.errors import error_middleware
from gateway.web.knowledge_api import KNOWLEDGE
from gateway.web.slow_clients import body_timeout_middleware
from gateway.web.typing_api import TYPING
from gateway.wiring import typing_relay
from gateway.wiring.cases_setup import cases_part, check_open_case, workflow_library
from gateway.wiring.channel_setup import build_adapters
from gateway.wiring.reports_setup import SURVEYS, periodic_surveys, surveys_part
from gateway.wiring.rules_watch import RULES, watch_rules
from gateway.wiring.services import SERVICES, Services, adapter_among
from gateway.wiring.verification_setup import VERIFIER, verification_part

log = logging.getLogger(__name__)


def build_app(
    config: GatewayConfig,
    *,
    store: Store | None = None,
    publisher: Publisher | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The gateway as an aiohttp application; ``store`` and ``publisher`` default to those
    the configuration names, ``clock`` to the wall clock."""
    store = store or open_store(
        config.storage.url,
        prefix=config.storage.key_prefix,
        min_replicas=config.storage.min_replicas,
        replica_timeout=config.storage.replica_timeout,
    )
    publisher = publisher or open_publisher(
        config.broker.nodes, publish_timeout=config.broker.publish_timeout, queue_type=config.broker.queue_type
    )
    router = RouterHolder(SingleQueueRouter(config.routing.default_queue, config.routing.default_priority))
    workflow = workflow_library(config, router)
    rules = _rules_manager(config, router, publisher, workflow.workflow.queues() if workflow else set())
    services = _services(config, store, publisher, router, clock)
    app = _http_app(config, services)
    if rules is not None:
        app[RULES] = rules
        check_open_case(rules, workflow)
    _add_interceptors(app, services, workflow, clock)
    app[SURVEYS] = surveys_part(services, clock)
    if (periodic := periodic_surveys(services, app[SURVEYS], clock)) is not None:
        app.cleanup_ctx.append(periodic)
    verifier = verification_part(services, clock)
    if verifier is not None:
        app[VERIFIER] = verifier
    _add_routes(app, services)
    _add_lifecycle(app)
    return app


def _rules_manager(
    config: GatewayConfig, router: RouterHolder, publisher: Publisher, case_queues: set[str]
) -> RulesManager | None:
    """The rules file in force (reloaded when it changes), when one is configured; without
    one the router sends everything to the default queue. The escalation queue and the
    case categories' queues must exist (a reload without them is refused)."""
    required = frozenset(q for q in [config.reply_tracking.escalation_queue] if q) | case_queues
    if config.routing.rules is None:
        if missing := sorted(required - {config.routing.default_queue}):
            raise ConfigError(
                f"no queue named {', '.join(missing)} (reply_tracking.escalation_queue, or a case category's "
                f"queue); without a rules file the only queue is {config.routing.default_queue!r}"
            )
        return None
    path = config.resolve_path(config.routing.rules)
    return RulesManager(
        path=path,
        holder=router,
        publisher=publisher,
        initial=_rules_at_startup(path, required),
        poll_interval=config.routing.reload_interval,
        required_queues=required,
    )


def _rules_at_startup(path: Path, required: frozenset[str]) -> LoadedRules:
    """Start-up refuses a missing or invalid rules file, naming every ``PATH:LINE``."""
    try:
        return load_at_startup(path, required)
    except RulesError as exc:
        raise ConfigError("routing.rules: the rules file cannot be used:\n" + "\n".join(exc.errors)) from None


def _services(
    config: GatewayConfig, store: Store, publisher: Publisher, router: RouterHolder, clock: Callable[[], float]
) -> Services:
    """The core parts, each given the parts it works with, and the timers they handle."""
    timers, tracker = _timers_and_tracker(config, store, router, clock)
    ingest, outbound, adapters = _ingest_outbound_and_channels(config, store, router, timers, tracker, clock)
    assignment = Assignment(store=store, router=router, clock=clock)
    timers.register("escalate", assignment.on_escalate)
    timers.register("sla_warn", tracker.on_warning)
    timers.register("sla_breach", tracker.on_breach)
    timers.register("window_closing", tracker.on_window_closing)
    timers.register("send", outbound.on_send)
    relay = OutboxRelay(
        store,
        publisher,
        inflight=config.broker.inflight,
        reclaim_idle=config.broker.reclaim_idle,
        events=config.broker.events,
    )
    return Services(
        config=config,
        store=store,
        publisher=publisher,
        router=router,
        ingest=ingest,
        relay=relay,
        timers=timers,
        assignment=assignment,
        outbound=outbound,
        reply_tracker=tracker,
        conversations=Conversations(store=store, clock=clock),
        adapters=adapters,
    )


def _timers_and_tracker(
    config: GatewayConfig, store: Store, router: RouterHolder, clock: Callable[[], float]
) -> tuple[TimerScanner, ReplyTracker]:
    """The durable timers' scanner, and reply tracking (deadlines in the rules' business hours)."""
    timers = TimerScanner(store, interval=config.reply_tracking.scan_interval, clock=clock)
    tracker = ReplyTracker(
        store=store,
        config=config.reply_tracking,
        calendar=lambda: router().business_hours,
        queue_skills=lambda q: router().queue_skills(q),
        clock=clock,
    )
    return timers, tracker


def _ingest_outbound_and_channels(
    config: GatewayConfig,
    store: Store,
    router: RouterHolder,
    timers: TimerScanner,
    tracker: ReplyTracker,
    clock: Callable[[], float],
) -> tuple[Ingest, Outbound, list[ChannelAdapter]]:
    """Messages in (ingest) and out (outbound), and the channel adapters between them:
    adapters hand messages to ingest, outbound sends through the adapters."""
    adapters: list[ChannelAdapter] = []
    outbound = Outbound(store=store, adapter_for=partial(adapter_among, adapters), wake=timers.wake, clock=clock)
    ingest = Ingest(
        store=store,
        router=router,
        config=config,
        clock=clock,
        reply_deadline=tracker.deadline,
        window_warning=config.reply_tracking.window_closing_lead,
        status_handler=outbound.apply_status,
    )
    adapters.extend(build_adapters(config, ingest, store))
    return ingest, outbound, adapters


def _http_app(config: GatewayConfig, services: Services) -> web.Application:
    """The aiohttp application holding ``services``: body limit, metrics, the intake guard
    of a shutdown, JSON errors and bearer tokens."""
    app = web.Application(
        client_max_size=config.http.max_body_bytes,
        middlewares=[
            metrics_api.webhook_metrics_middleware,
            shutdown.intake_guard,
            error_middleware,
            make_auth_middleware(TokenTable(config.auth)),
            body_timeout_middleware(config.http.body_timeout),
        ],
    )
    app[SERVICES] = services
    app[TYPING] = typing_relay.install(services)
    return app


def _add_interceptors(
    app: web.Application, services: Services, workflow: WorkflowLibrary | None, clock: Callable[[], float]
) -> None:
    """Interceptors in order: a rating reply is not a case question, and a case question
    is not one for the FAQ."""
    config = services.config
    if config.csat is not None and config.csat.enabled:
        app[RATINGS] = _ratings(services, config.csat, clock)
    if workflow is not None:
        app[CASES] = cases_part(services, workflow, clock)
        app.cleanup_ctx.append(workflow.lifecycle)
    library = None
    if config.faq.file is not None:
        service = _self_service(services, config.resolve_path(config.faq.file), clock)
        app[SELF_SERVICE] = service
        app.cleanup_ctx.append(service.library.lifecycle)
        library = service.library
    app[KNOWLEDGE] = _knowledge(config, library)


def _knowledge(config: GatewayConfig, faq: FaqLibrary | None) -> KnowledgeBase:
    """The articles agents search for canned replies; ``ConfigError`` for a bad file."""
    path = config.resolve_path(config.knowledge.file) if config.knowledge.file else None
    try:
        return KnowledgeBase(path, faq, interval=config.knowledge.reload_interval)
    except KnowledgeError as exc:
        raise ConfigError("knowledge.file: " + "; ".join(exc.problems)) from None


def _ratings(services: Services, config: CsatConfig, clock: Callable[[], float]) -> Ratings:
    """Rating requests after a resolve, and the customers' scores."""
    ratings = Ratings(
        config=config,
        store=services.store,
        outbound=services.outbound,
        adapter_for=services.adapter_for,
        wake=services.timers.wake,
        clock=clock,
    )
    services.ingest.interceptors.append(ratings)
    services.conversations.on_resolved.append(ratings.on_resolved)
    services.timers.register("csat_request", ratings.on_request)
    services.timers.register("csat_rated", ratings.on_rated)
    return ratings


def _self_service(services: Services, faq_file: Path, clock: Callable[[], float]) -> SelfService:
    """FAQ answers before a person is needed; ``ConfigError`` for an FAQ file that cannot be used."""
    config = services.config
    try:
        library = FaqLibrary(faq_file, interval=config.faq.reload_interval)
    except FaqError as exc:
        raise ConfigError("faq.file: " + "; ".join(exc.problems)) from None
    service = SelfService(
        config=config,
        library=library,
        store=services.store,
        outbound=services.outbound,
        conversations=services.conversations,
        router=services.router,
        adapter_for=services.adapter_for,
        wake=services.timers.wake,
        clock=clock,
    )
    services.ingest.interceptors.append(service)
    services.timers.register("faq_answer", service.on_answer)
    services.timers.register("faq_idle", service.on_idle)
    services.timers.register("faq_end", service.on_end)
    return service


def _add_routes(app: web.Application, services: Services) -> None:
    """The HTTP API, the console with its live feed, and every channel's webhooks."""
    app.router.add_routes(health.routes)
    app.router.add_routes(read_api.routes)
    app.router.add_routes(attachments_api.routes)
    app.router.add_routes(conversation_api.routes)
    app.router.add_routes(ops_api.routes)
    app.router.add_routes(metrics_api.routes)
    app.router.add_routes(openapi.routes)
    app.router.add_routes(routing_api.routes)
    app.router.add_routes(stats_api.routes)
    app.router.add_routes(cases_api.routes)
    app.router.add_routes(feedback.routes)
    app.router.add_routes(verification_api.routes)
    app.router.add_routes(reports_api.routes)
    app.router.add_routes(knowledge_api.routes)
    app.router.add_routes(typing_api.routes)
    if services.config.channels.webchat is not None:
        app.router.add_routes(webchat_status.routes)
    console.install(
        app,
        EventFeed(
            open_source(services.config.broker.nodes, services.publisher), lookup=services.store.get_conversation
        ),
    )
    for adapter in services.adapters:
        app.router.add_routes(adapter.routes())


def _add_lifecycle(app: web.Application) -> None:
    """Start and stop with the application: the parts, the rules file watch, and the end of
    long-lived connections when a shutdown begins."""
    app.cleanup_ctx.append(_lifecycle)
    app.cleanup_ctx.append(watch_rules)
    app.on_shutdown.append(_close_long_lived_connections)


async def _close_long_lived_connections(app: web.Application) -> None:
    """Stop intake, and end websockets that would hold the shutdown for its whole grace period."""
    app[SERVICES].stopping = True
    for adapter in app[SERVICES].adapters:
        await adapter.shutdown()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    await _start(app[SERVICES], app[FEED])
    try:
        yield
    finally:
        await _stop(app[SERVICES], app[FEED])


async def _start(services: Services, feed: EventFeed) -> None:
    """Storage (the gateway starts even when it is down), the broker's queues, the channel
    adapters, the outbox relay and the timer scanner, the console feed."""
    try:
        await services.store.start()
    except Exception as exc:
        log.warning("storage not reachable at start-up: %s", type(exc).__name__)
    await services.publisher.start(services.router().queues())
    services.http = aiohttp.ClientSession(headers={"User-Agent": "omnichannel-gateway/0.1"})
    for adapter in services.adapters:
        await adapter.start(services.http)
    services.tasks.append(asyncio.create_task(services.relay.run(), name="outbox-relay"))
    services.tasks.append(asyncio.create_task(services.timers.run(), name="timer-scanner"))
    await feed.start()
    log.info("gateway started", extra={"channels": [a.name for a in services.adapters]})


async def _stop(services: Services, feed: EventFeed) -> None:
    """Publish what the outbox holds (for a while), then stop everything in reverse."""
    services.stopping = True
    drained = await services.relay.drain(timeout=min(5.0, services.config.http.shutdown_grace))
    if not drained:
        log.warning("outbox not empty at shutdown; the next start (or another process) publishes it")
    services.relay.stop()
    services.timers.stop()
    await feed.close()
    for task in services.tasks:
        task.cancel()
    for task in services.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for adapter in services.adapters:
        with contextlib.suppress(Exception):
            await adapter.stop()
    await services.http.close()
    await services.publisher.close()
    await services.store.close()
    log.info("gateway stopped")
