"""What may change a customer message before it is written: interceptors and their ``Verdict``,
holding a conversation for verification (``VerificationGate``, ``HOLD_FLAG``), and the timers
written with the message (``VERIFY_START``, ``AUTO_OPEN_CASE``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.model import InboundMessage
from gateway.storage.base import IngestPlan, Prepared

# A rule's ``open_case: <category>``: a timer of this kind, written with the message, asks
# whoever handles cases (``gateway.cases``) to open one on the conversation.
AUTO_OPEN_CASE = "case_auto_open"


# A queue with ``requires_verification: true``: an unverified customer's conversation is
# stored and tracked but held (flagged) without an offer; a timer written with the message
# starts verification, and its outcome releases the offer (gateway.verification).
HOLD_FLAG = "verification_hold"
VERIFY_START = "verification_start"


@dataclass(slots=True)
class Verdict:
    """What an interceptor decided about one inbound message before it is written."""

    route: bool | None = None  # False: store it, but do not offer it to agents
    # True: still a customer request (answered by the bot): it opens or reopens a
    # conversation like any request, only without an offer. Default: same as ``route``.
    opens: bool | None = None
    flags_add: list[str] = field(default_factory=list)
    flags_remove: list[str] = field(default_factory=list)
    conversation_attributes: dict[str, Any] = field(default_factory=dict)
    # (kind, argument, delay seconds): timers written atomically with the message; their
    # handlers (registered on the timer scanner) do the follow-up work, e.g. answer it.
    timers: list[tuple[str, str, float]] = field(default_factory=list)
    # Stored (and published) instead of what the customer wrote: a verification code's
    # answer never reaches storage, the broker or an agent.
    text: str | None = None
    # Codes to cut out of everything stored of the message (text, HTML, subject, meta)
    # wherever they stand as a whole run of digits, before later interceptors see it.
    redact: list[str] = field(default_factory=list)
    # Only the redaction: the next interceptors still decide about the message.
    passes: bool = False
    # Routed on this instead of the message's text: "转人工" after an FAQ exchange routes
    # on the question the customer asked before it.
    routing_text: str | None = None


class Interceptor(Protocol):
    """Looks at a customer message before routing (self-service answers, ratings).

    An interceptor whose class sets ``needs_existing = True`` promises to return None for a
    message of a new contact without a conversation: such messages may then be written in
    one round trip (``Ingest._one_trip``). Without it every message is prepared first.
    """

    async def inspect(self, message: InboundMessage, prepared: Prepared) -> Verdict | None: ...


class VerificationGate(Protocol):
    async def verified(self, contact_id: str) -> bool: ...

    async def signed_in(self, contact_id: str, conversation_id: str) -> None:
        """The contact wrote with a signed identity: verified (method ``jwt``)."""
        ...

    async def codes_to_cut(self, contact_id: str) -> list[str]:
        """Verification codes of the contact to cut out of an edited message."""
        ...


def hold_for_verification(plan: IngestPlan, prepared: Prepared) -> None:
    """Keep the offer back until verification settles — unless an agent has the
    conversation or it is offered already; start verification once per hold."""
    glance = prepared.conversation
    current = glance is not None and glance.status != "resolved"
    if not plan.route or (current and (glance.assignee or glance.offered)):  # type: ignore[union-attr]
        return
    plan.hold = True
    if not (current and HOLD_FLAG in glance.flags):  # type: ignore[union-attr]
        plan.timers = [*plan.timers, [VERIFY_START, plan.queue, "0"]]
    plan.flags_add = [*plan.flags_add, HOLD_FLAG]


def apply_verdict(plan: IngestPlan, verdict: Verdict) -> None:
    """What an interceptor decided beyond routing: opening, flags, its timers."""
    if verdict.opens is not None:
        plan.opens = verdict.opens
    plan.flags_add = list(verdict.flags_add)
    plan.flags_remove = list(verdict.flags_remove)
    plan.timers = [
        *plan.timers,
        *([kind, argument, str(int(delay * 1000))] for kind, argument, delay in verdict.timers),
    ]
