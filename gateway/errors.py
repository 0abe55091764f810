"""The error a request handler raises for input the sender got wrong, in one neutral place.

Channels, the core and the web layer all raise ``RequestRejected``; the web layer's
error middleware (``gateway.web.errors``) answers it as ``{"error": {"code", "message"}}``
with its status, and the Twilio paths answer it in TwiML. Nothing here imports the rest
of the gateway.
"""

from __future__ import annotations

import json
from typing import Any


class RequestRejected(Exception):
    """A request the provider or customer got wrong: answered with ``status`` and a JSON error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def parse_json_body(body: bytes) -> Any:
    """The body as JSON, or ``RequestRejected`` (400 ``malformed_json``)."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(400, "malformed_json", f"body is not valid JSON: {exc}") from None
