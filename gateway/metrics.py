"""Prometheus metrics, defined once. Labels are bounded (channel, queue, kind, outcome —
never ids). Counters and histograms are per process; scrape every process. The
``gateway_cluster_*`` gauges are read from storage and are the same in every process:
take one, do not sum them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from gateway.model import Channel

CHANNELS = frozenset(c.value for c in Channel)
# Webhook path segment → channel label (/webhooks/twilio/... carries SMS and voice).
WEBHOOK_CHANNELS = CHANNELS | {"twilio"}

INBOUND = Counter(
    "gateway_inbound_messages_total", "Customer messages at the door, by outcome.", ["channel", "outcome"]
)
INBOUND_IGNORED = Counter(
    "gateway_inbound_ignored_total",
    "Provider events deliberately not stored (receipts of other apps, group chatter, "
    "unfollows …), by channel and kind; see docs/message-kinds.md.",
    ["channel", "kind"],
)
AMENDMENTS = Counter(
    "gateway_inbound_amendments_total",
    "Customers' edits and deletions of their messages, by outcome (applied, stale, duplicate, stored_new, not_found).",
    ["channel", "action", "outcome"],
)
ACK_LATENCY = Histogram(
    "gateway_ack_latency_seconds",
    "From request received to acknowledgement sent (webhooks; SMTP DATA).",
    ["channel"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PUBLISHES = Counter(
    "gateway_publishes_total", "Outbox entries published to RabbitMQ, by outcome.", ["exchange", "outcome"]
)
OUTBOX_DEPTH = Gauge("gateway_cluster_outbox_depth", "Outbox entries not yet confirmed by RabbitMQ.")
OUTBOX_OLDEST = Gauge("gateway_cluster_outbox_oldest_age_seconds", "Age of the oldest unconfirmed outbox entry.")
QUEUE_DEPTH = Gauge("gateway_cluster_queue_depth", "Conversations waiting for a claim, per queue.", ["queue"])
QUEUE_OLDEST = Gauge("gateway_cluster_queue_oldest_wait_seconds", "Longest current wait, per queue.", ["queue"])
CLAIMS = Counter("gateway_offers_claimed_total", "Conversations claimed by agents, by how.", ["how"])
TIME_TO_CLAIM = Histogram(
    "gateway_time_to_claim_seconds",
    "Wait from offer to claim.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
REPLY_TRACKING = Counter("gateway_reply_tracking_events_total", "Reply-deadline warnings and breaches fired.", ["kind"])
FIRST_RESPONSE = Histogram(
    "gateway_first_response_seconds",
    "Conversation opened → first agent reply.",
    buckets=(10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800),
)
SLA_ATTAINMENT = Gauge(
    "gateway_cluster_sla_attainment_ratio",
    "Reply deadlines answered in time ÷ deadlines that ended (answered, or breached and closed unanswered).",
)
SENDS = Counter("gateway_outbound_sends_total", "Send attempts of replies, by result.", ["channel", "result"])
DELIVERY_REPORTS = Counter(
    "gateway_delivery_reports_total", "Provider delivery reports, by effect.", ["channel", "effect"]
)
TIMERS = Counter("gateway_timers_fired_total", "Due timers handled, by kind.", ["kind"])
FAQ_ANSWERS = Counter("gateway_faq_answers_total", "FAQ answers queued for sending, by channel.", ["channel"])
SELF_SERVICE = Counter(
    "gateway_self_service_episodes_total",
    "Self-service episodes ended, by outcome: deflected (no person needed), handoff, undelivered.",
    ["outcome"],
)
CSAT_REQUESTS = Counter(
    "gateway_csat_requests_total",
    "Rating requests after a resolve, by outcome: sent, or why skipped (window_closed, loop_guard, …).",
    ["outcome"],
)
CSAT_RATINGS = Counter("gateway_csat_ratings_total", "Ratings recorded, by score (1–5).", ["score"])
VERIFICATIONS = Counter(
    "gateway_verifications_total",
    "Identity verifications, by outcome (requested, succeeded, failed).",
    ["outcome"],
)
VERIFICATION_FAILURES = Counter(
    "gateway_verification_failures_total",
    "Verification failures, by reason (wrong_code, locked, expired, rate_limited, bad_jwt).",
    ["reason"],
)
CASES = Counter(
    "gateway_case_steps_total",
    "Case steps taken here, by category and step (opened, progress, extended, resolved, overdue …).",
    ["category", "step"],
)


def channel_label(value: str) -> str:
    return value if value in WEBHOOK_CHANNELS else "other"
