"""How conversations are routed and answered in time: ``routing``, ``reply_tracking``
and ``identity`` (reading contacts' phone numbers)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gateway.channels.config import Duration, Section
from gateway.model import Channel


class RoutingConfig(Section):
    rules: Path | None = Path("config/routing.yaml")
    reload_interval: Duration = 2.0  # how often the rules file's mtime is checked
    reopen_window: Duration = 7 * 86400.0
    default_queue: str = "general"
    default_priority: int = Field(3, ge=0, le=9)


class ReplyTrackingConfig(Section):
    default: Duration = 86400.0
    warn_at: float = Field(0.8, gt=0, lt=1)
    channels: dict[Channel, Duration] = Field(default_factory=dict)
    business_hours: bool = False
    escalation_queue: str | None = None
    scan_interval: Duration = 0.25
    # How long before a messaging window closes `window.closing` fires (and priority rises).
    window_closing_lead: Duration = 3600.0

    def target_for(self, channel: Channel) -> float:
        return self.channels.get(channel, self.default)


class IdentityConfig(Section):
    # Region used to read phone numbers given without a country code (e.g. "CN").
    default_region: str | None = None
