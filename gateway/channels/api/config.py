"""``channels.api``: the secret that signs both directions, and where replies go."""

from __future__ import annotations

from gateway.channels.config import RealSecret, Section


class ApiChannelConfig(Section):
    secret: RealSecret
    callback_url: str | None = None
