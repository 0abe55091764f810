"""The running gateway's parts, held in one typed object on the aiohttp app."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from gateway.channels.base import ChannelAdapter
from gateway.config import GatewayConfig
from gateway.core.assignment import Assignment
from gateway.core.conversations import Conversations
from gateway.core.ingest import Ingest
from gateway.core.outbound import Outbound
from gateway.core.outbox import OutboxRelay
from gateway.core.reply_tracking import ReplyTracker
from gateway.core.timers import TimerScanner
from gateway.model import Channel
from gateway.routing.publisher import Publisher
from gateway.routing.router import RouterHolder
from gateway.storage.base import Store


def adapter_among(adapters: Iterable[ChannelAdapter], channel: Channel, endpoint: str = "") -> ChannelAdapter | None:
    """The adapter of ``adapters`` that serves ``channel`` conversations at ``endpoint``
    (WhatsApp through Twilio or the Cloud API), else any of that channel; None when the
    channel is not configured."""
    candidates = [adapter for adapter in adapters if channel in adapter.channels]
    return next((a for a in candidates if a.serves(channel, endpoint)), candidates[0] if candidates else None)


@dataclass
class Services:
    config: GatewayConfig
    store: Store
    publisher: Publisher
    router: RouterHolder
    ingest: Ingest
    relay: OutboxRelay
    timers: TimerScanner
    assignment: Assignment
    outbound: Outbound
    reply_tracker: ReplyTracker
    conversations: Conversations
    adapters: list[ChannelAdapter] = field(default_factory=list)
    http: aiohttp.ClientSession | None = None
    stopping: bool = False
    tasks: list[Any] = field(default_factory=list)

    def adapter_for(self, channel: Channel, endpoint: str = "") -> ChannelAdapter | None:
        return adapter_among(self.adapters, channel, endpoint)

    def known_agents(self) -> set[str]:
        return {t.agent for t in self.config.auth.tokens if t.agent}

    def agent_names(self) -> dict[str, str]:
        """Agent id → display name (``auth.tokens[].name``, else the id)."""
        return {t.agent: t.name or t.agent for t in self.config.auth.tokens if t.agent}


SERVICES = web.AppKey("services", Services)
