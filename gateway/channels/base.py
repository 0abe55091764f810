"""What every channel adapter shares: the sink it reports to, the adapter shape,
and the webhook and HTTP-send plumbing written once instead of per provider.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any, ClassVar, Protocol

import aiohttp
from aiohttp import web

from gateway.model import Channel, InboundMessage, IngestResult, OutboundRequest, SendResult, StatusUpdate

log = logging.getLogger(__name__)


class InboundSink(Protocol):
    """Where adapters hand what they received. ``accept`` returns only once the message
    is durable; it raises ``gateway.model.ServiceUnavailable`` when it cannot be."""

    async def accept(self, message: InboundMessage) -> IngestResult: ...

    async def accept_status(self, update: StatusUpdate) -> bool: ...


class RequestRejected(Exception):
    """A request the provider or customer got wrong: answered with ``status`` and a JSON error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SendNotSupported(Exception):
    """The adapter cannot send this (yet); the API answers 501."""


class ChannelAdapter:
    """One provider. Subclasses set ``name`` (config section) and ``channels``."""

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

    def window_allows(self, *, expired_for: float, template: dict[str, Any] | None) -> bool:
        """Whether a reply may go out ``expired_for`` seconds after the customer-service
        window closed. By default only a template may (WhatsApp's rule)."""
        return template is not None and self.supports_templates


def parse_json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(400, "malformed_json", f"body is not valid JSON: {exc}") from None


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(header: str | None, secret: str, body: bytes, *, prefix: str = "sha256=") -> bool:
    """``<prefix><hex HMAC-SHA256 of the raw body>``, compared in constant time."""
    if not header or not header.startswith(prefix):
        return False
    expected = prefix + hmac_sha256_hex(secret, body)
    return hmac.compare_digest(header.strip().encode(), expected.encode())


def public_url(base: str, request: web.Request) -> str:
    """The URL the provider signed: the configured public base, not our own host."""
    return base + request.path_qs


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
