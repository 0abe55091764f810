"""``channels.webchat``: who may embed the widget, the visitor token key, and the limits
that keep one visitor or address from taking the channel down."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from gateway.channels.config import Duration, GuardSecret, Section

_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


class WebchatConfig(Section):
    # Pages whose widget may open the socket; the origin of http.public_url (the demo
    # page) is always allowed. "*" allows any origin (only for trying things out).
    allowed_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8080"])
    # Signs visitor tokens; unset = derived from channels.api.secret or an ops token.
    token_secret: GuardSecret | None = None
    max_message_chars: int = Field(4000, ge=1, le=100_000)
    max_frame_bytes: int = Field(32 * 1024, ge=1024, le=1024 * 1024)
    messages_per_second: float = Field(1.0, gt=0, le=1000)
    message_burst: int = Field(10, ge=1, le=10_000)
    max_connections_per_ip: int = Field(20, ge=1, le=1_000_000)
    # Behind a reverse proxy: the header holding the client address (e.g. X-Forwarded-For).
    client_ip_header: str | None = None
    history_limit: int = Field(100, ge=0, le=500)
    # What the widget says when no agent is online (GET /webchat/availability); a text may
    # hold both languages ("中文 / English"), the visitor's is shown. Unset: the office hours
    # from the routing rules' business_hours, and the web chat reply-tracking target.
    office_hours: str | None = Field(None, max_length=500)
    reply_promise: str | None = Field(None, max_length=500)
    hello_timeout: Duration = 10.0
    heartbeat: Duration = 30.0

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        cleaned = []
        for origin in value:
            origin = origin.strip().rstrip("/").lower()
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
            cleaned.append(origin)
        return cleaned
