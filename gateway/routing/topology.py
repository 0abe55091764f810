"""RabbitMQ names and queue arguments (docs/rabbitmq.md — a contract other systems rely on)."""

from __future__ import annotations

WORK_EXCHANGE = "gateway.work"  # direct; one queue per routing queue, bound by its name
EVENTS_EXCHANGE = "gateway.events"  # topic; message.inbound, sla.breached, ...
DEAD_LETTER_EXCHANGE = "gateway.dlx"  # fanout; rejected or expired offers
DEAD_LETTER_QUEUE = "gateway.dead-letters"
MAX_PRIORITY = 10


def work_queue_arguments(queue_type: str = "classic") -> dict[str, object]:
    """Every declaration must use identical arguments, or RabbitMQ closes the channel.
    ``quorum``: replicated over the cluster's nodes (Raft), survives the loss of a minority
    of them; RabbitMQ 3.x quorum queues have no priorities, so the offer's priority then
    orders only the claim order kept in Redis (``gw:wait:<queue>``), not the queue."""
    if queue_type == "quorum":
        return {"x-queue-type": "quorum", "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE}
    return {"x-max-priority": MAX_PRIORITY, "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE}


def dead_letter_queue_arguments(queue_type: str = "classic") -> dict[str, object]:
    return {"x-queue-type": "quorum"} if queue_type == "quorum" else {}
