"""``GET /metrics`` for Prometheus, and the middleware that times webhook answers."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import metrics
from gateway.core.reply_tracking import sla_attainment
from gateway.model import ServiceUnavailable
from gateway.wiring.services import SERVICES


@web.middleware
async def webhook_metrics_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Acknowledgement latency of accepted webhooks; refusals counted by channel."""
    if not request.path.startswith("/webhooks/"):
        return await handler(request)
    channel = metrics.channel_label(request.path.split("/")[2] if request.path.count("/") >= 2 else "")
    started = time.perf_counter()
    response = await handler(request)
    if request.method == "POST":
        if response.status < 300:
            metrics.ACK_LATENCY.labels(channel).observe(time.perf_counter() - started)
        elif 400 <= response.status < 500:
            metrics.INBOUND.labels(channel, "rejected").inc()
    return response


async def prometheus(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        outbox = await services.store.outbox_stats()
        router = services.router()
        queues = await services.store.queue_stats(router.queues())
        stats = await services.store.stats()
    except ServiceUnavailable:
        pass  # storage down: serve the process's own metrics, leave the cluster gauges as they were
    else:
        now_ms = time.time() * 1000
        metrics.OUTBOX_DEPTH.set(outbox.depth)
        metrics.OUTBOX_OLDEST.set((now_ms - outbox.oldest_ms) / 1000 if outbox.oldest_ms else 0)
        for name, q in queues.items():
            metrics.QUEUE_DEPTH.labels(name).set(q.waiting)
            metrics.QUEUE_OLDEST.labels(name).set((now_ms - q.oldest_wait_ms) / 1000 if q.oldest_wait_ms else 0)
        attainment = sla_attainment(stats)
        if attainment is not None:
            metrics.SLA_ATTAINMENT.set(attainment)
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


routes = [web.get("/metrics", prometheus)]
