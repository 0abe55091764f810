"""Builders for tests: configs and inbound messages with distinct values per field."""

from __future__ import annotations

import itertools
from typing import Any

from gateway.config import GatewayConfig, config_from_dict
from gateway.core.ingest import Ingest
from gateway.model import Channel, Identity, IdentityKind, InboundMessage
from gateway.routing.router import SingleQueueRouter
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


API_SECRET = "test-api-secret-3f9a"
OPS_TOKEN = "ops-token-for-tests"
ALICE_TOKEN = "alice-token-for-tests"
BOB_TOKEN = "bob-token-for-tests"


TOKENS = [
    {"token": OPS_TOKEN, "role": "ops"},
    {"token": ALICE_TOKEN, "role": "agent", "agent": "alice"},
    {"token": BOB_TOKEN, "role": "agent", "agent": "bob"},
]


def gateway_config(**sections: Any) -> GatewayConfig:
    """A config with the API channel, one ops and two agent tokens, no rules file."""
    raw: dict[str, Any] = {
        "routing": {"rules": None},
        "smtp": {"enabled": False},
        "auth": {"tokens": TOKENS},
        "channels": {"api": {"secret": API_SECRET}},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(name), dict):
            raw[name] = {**raw[name], **value}
        else:
            raw[name] = value
    return config_from_dict(raw, env={})


def auth(token: str = OPS_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_api_body(payload: dict[str, Any], secret: str = API_SECRET) -> tuple[bytes, dict[str, str]]:
    import hashlib
    import hmac
    import json

    body = json.dumps(payload, ensure_ascii=False).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Gateway-Signature": sig, "Content-Type": "application/json"}
