"""Builders for tests: configs and inbound messages with distinct values per field."""

from __future__ import annotations

import itertools
from typing import Any

from gateway.config import GatewayConfig, config_from_dict
from gateway.ingest import Ingest
from gateway.model import Channel, Identity, IdentityKind, InboundMessage
from gateway.routing.static import SingleQueueRouter
from gateway.storage.base import Store

_counter = itertools.count(1)


def make_config(**sections: Any) -> GatewayConfig:
    raw: dict[str, Any] = {"routing": {"rules": None}}
    raw.update(sections)
    return config_from_dict(raw, env={})


def make_ingest(store: Store, config: GatewayConfig | None = None, clock=None) -> Ingest:  # type: ignore[no-untyped-def]
    router = SingleQueueRouter()
    kwargs = {"clock": clock} if clock else {}
    return Ingest(store=store, router=lambda: router, config=config or make_config(), **kwargs)


def inbound(
    *,
    channel: Channel = Channel.API,
    sender: tuple[str, str] = ("api", "cust-1"),
    external_id: str | None = None,
    text: str = "hello",
    **extra: Any,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        external_id=external_id or f"ext-{next(_counter)}",
        endpoint=extra.pop("endpoint", channel.value),
        sender=Identity(kind=IdentityKind(sender[0]), value=sender[1]),
        text=text,
        **extra,
    )
