"""RabbitMQ names and queue arguments (docs/rabbitmq.md — a contract other systems rely on)."""

from __future__ import annotations

WORK_EXCHANGE = "gateway.work"  # direct; one queue per routing queue, bound by its name
EVENTS_EXCHANGE = "gateway.events"  # topic; message.inbound, sla.breached, ...
DEAD_LETTER_EXCHANGE = "gateway.dlx"  # fanout; rejected or expired offers
DEAD_LETTER_QUEUE = "gateway.dead-letters"
MAX_PRIORITY = 10


def work_queue_arguments() -> dict[str, object]:
    # Every declaration must use identical arguments, or RabbitMQ closes the channel.
    return {"x-max-priority": MAX_PRIORITY, "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE}
