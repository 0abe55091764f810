"""What one Meta webhook delivery holds once parsed, and the envelope checks shared by
WhatsApp, Messenger and Instagram.

Meta batches: one request carries several ``entry`` items, each with several events.
Parsing never stops at the first event, and an event it cannot read is reported as a
problem instead of failing the batch: the good events are stored first, then the
delivery is answered ``422`` naming what could not be read, so nothing is acknowledged
that was lost (Meta redelivers; what was stored deduplicates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.channels.meta.watermarks import Watermark
from gateway.errors import RequestRejected
from gateway.model import Amendment, InboundMessage, StatusUpdate

Event = InboundMessage | StatusUpdate | Watermark | Amendment


@dataclass
class Batch:
    """The events of one delivery, in the order Meta sent them."""

    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Kinds deliberately not stored (echoes of our own sends, other apps' receipts …),
    # one entry per event: counted in gateway_inbound_ignored_total.
    ignored: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.ignored)

    @property
    def messages(self) -> list[InboundMessage]:
        return [e for e in self.events if isinstance(e, InboundMessage)]

    @property
    def statuses(self) -> list[StatusUpdate]:
        return [e for e in self.events if isinstance(e, StatusUpdate)]

    @property
    def watermarks(self) -> list[Watermark]:
        return [e for e in self.events if isinstance(e, Watermark)]


def entries(data: Any, expected_object: str) -> list[dict[str, Any]]:
    """The ``entry`` list of a delivery for ``expected_object``; 422 for anything else."""
    if not isinstance(data, dict):
        raise RequestRejected(422, "invalid", "the body must be a JSON object")
    if data.get("object") != expected_object:
        raise RequestRejected(
            422, "wrong_object", f"this endpoint takes object {expected_object!r}, got {data.get('object')!r}"
        )
    items = data.get("entry")
    if not isinstance(items, list):
        raise RequestRejected(422, "invalid", "entry: must be a list")
    return [e for e in items if isinstance(e, dict)]
