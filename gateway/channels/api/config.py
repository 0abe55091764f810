"""``channels.api``: the secret that signs both directions, and where replies go."""

from __future__ import annotations

from gateway.channels.config import GuardSecret, Section


class ApiChannelConfig(Section):
    secret: GuardSecret
    callback_url: str | None = None
