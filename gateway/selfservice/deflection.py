"""Self-service figures: how many FAQ episodes were answered, deflected, handed off or
undelivered, from the cluster-wide counters (``GET /api/v1/stats``)."""

from __future__ import annotations

from typing import Any


def summary(stats: dict[str, int]) -> dict[str, Any]:
    """Self-service figures from the cluster-wide counters.

    * ``answered``: episodes — first messages the FAQ took on (a conversation can have
      several: one per new request after a resolve or a quiet spell). ``answers_sent``
      counts every answer queued, follow-up questions included.
    * ``deflected``: episodes that went quiet for ``faq.idle_resolve`` after their answers
      without anyone asking for a person (resolved ``by: self-service``).
    * ``handed_off``: episodes a person took over (asked for, FAQ could not answer, …).
    * ``undelivered``: episodes none of whose answers could be delivered (sent to agents).
    * ``in_progress`` = answered − the three above.
    * ``deflection_rate`` = deflected ÷ answered.
    * ``new_requests`` = ``offered`` (new and reopened conversations offered to agents, the
      core's counter; handoffs included) + deflected: every request that reached a person or
      ended with the FAQ. ``deflection_share`` = deflected ÷ new_requests.
    """
    answered = stats.get("faq_answered", 0)
    deflected = stats.get("faq_deflected", 0)
    handed_off = stats.get("faq_handoffs", 0)
    undelivered = stats.get("faq_undelivered", 0)
    requests = stats.get("offered", 0) + deflected
    return {
        "answered": answered,
        "answers_sent": stats.get("faq_answers", 0),
        "deflected": deflected,
        "handed_off": handed_off,
        "undelivered": undelivered,
        "in_progress": max(0, answered - deflected - handed_off - undelivered),
        "deflection_rate": round(deflected / answered, 4) if answered else None,
        "new_requests": requests,
        "deflection_share": round(deflected / requests, 4) if requests else None,
    }
