"""What every channel adapter shares: the sink it reports to, the adapter shape, the
provider HTTP call, and the send results every channel answers the same way.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar, Protocol

import aiohttp
from aiohttp import web

from gateway.model import (
    Amendment,
    AmendResult,
    Channel,
    IdentityKind,
    InboundMessage,
    IngestResult,
    OutboundRequest,
    SendResult,
    StatusUpdate,
)

log = logging.getLogger(__name__)


class InboundSink(Protocol):
    """Where adapters hand what they received. ``accept`` returns only once the message
    is durable; it raises ``gateway.model.ServiceUnavailable`` when it cannot be."""

    async def accept(self, message: InboundMessage) -> IngestResult: ...

    async def accept_status(self, update: StatusUpdate) -> bool: ...

    async def amend(self, amendment: Amendment) -> AmendResult:
        """A customer's edit or deletion of a message they sent; durable on return, like
        ``accept``."""
        ...


class SendNotSupported(Exception):
    """The adapter cannot send this (yet); the API answers 501."""


class ChannelAdapter:
    """One provider. Subclasses set ``name`` (config section) and ``channels``.

    A webhook channel has three steps, named alike everywhere: ``verify_*`` (is it from
    the provider? 401 when the signature is missing, 403 when it is wrong), ``parse_*``
    (the payload → ``InboundMessage`` / ``StatusUpdate``), and ``send`` (a reply out).
    """

    name: ClassVar[str] = ""
    channels: ClassVar[tuple[Channel, ...]] = ()
    # What it can send: replies at all, and provider templates (e.g. WhatsApp's).
    can_send: ClassVar[bool] = False
    supports_templates: ClassVar[bool] = False

    def __init__(self, sink: InboundSink) -> None:
        self.sink = sink
        self.http: aiohttp.ClientSession | None = None

    def routes(self) -> list[web.AbstractRouteDef]:
        return []

    async def start(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def stop(self) -> None:
        return None

    async def shutdown(self) -> None:
        """The server is going down: end long-lived connections (websockets) now."""
        return None

    async def send(self, request: OutboundRequest) -> SendResult:
        raise SendNotSupported(f"the {self.name} channel cannot send messages")

    def serves(self, channel: Channel, endpoint: str) -> bool:
        """Whether replies on a ``channel`` conversation at ``endpoint`` go through this
        adapter (WhatsApp has two: the Cloud API, and Twilio for ``whatsapp:+…`` senders)."""
        return channel in self.channels

    def takes_templates(self, channel: Channel) -> bool:
        """Whether a reply on ``channel`` may be a provider template."""
        return self.supports_templates

    def window_allows(self, *, expired_for: float, template: dict[str, Any] | None) -> bool:
        """Whether a reply may go out ``expired_for`` seconds after the customer-service
        window closed. By default only a template may (WhatsApp's rule)."""
        return template is not None and self.supports_templates


# --- send results every channel gives alike ----------------------------------------


def not_started(channel: str) -> SendResult:
    """A send before ``start()`` (no HTTP session yet): tried again later, never lost."""
    return SendResult(ok=False, retryable=True, error=f"the {channel} channel is not started yet")


def wrong_recipient(request: OutboundRequest, kind: IdentityKind, *, address: str = "") -> SendResult | None:
    """None when the reply goes to a ``kind`` identity; else a final failure naming what
    the customer lacks (``address``, by default "<kind> address")."""
    if request.recipient.kind is kind:
        return None
    lacking = address or f"{kind.value} address"
    return SendResult(
        ok=False,
        retryable=False,
        error=f"the customer has no {lacking} on this conversation ({request.recipient.kind.value} given)",
    )


def nothing_to_send(*, templates: bool = False) -> SendResult:
    what = "text, template or attachment link" if templates else "text or attachment link"
    return SendResult(ok=False, retryable=False, error=f"nothing to send: no {what}")


async def send_http(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    timeout: float = 15.0,
    **kwargs: Any,
) -> tuple[int, Any, SendResult | None]:
    """One provider API call. Returns (status, parsed body, failure or None).

    Network errors, timeouts, 429 and 5xx are retryable failures; other 4xx are final.
    """
    try:
        async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=timeout), **kwargs) as resp:
            text = await resp.text(errors="replace")
            try:
                body: Any = json.loads(text) if text else None
            except json.JSONDecodeError:
                body = text
            if resp.status >= 500 or resp.status == 429:
                return (
                    resp.status,
                    body,
                    SendResult(ok=False, retryable=True, error=f"HTTP {resp.status}: {text[:300]}"),
                )
            if resp.status >= 400:
                return (
                    resp.status,
                    body,
                    SendResult(ok=False, retryable=False, error=f"HTTP {resp.status}: {text[:300]}"),
                )
            return resp.status, body, None
    except TimeoutError:
        return 0, None, SendResult(ok=False, retryable=True, error="timeout")
    except aiohttp.ClientError as exc:
        return 0, None, SendResult(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}"[:300])
