"""Telegram sends the ``secret_token`` given to ``setWebhook`` back in a header on every
update: 401 without it, 403 when it is not ours."""

from __future__ import annotations

from gateway.channels.signatures import require_signature, same_secret

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def verify_secret_token(expected: str, header: str | None) -> None:
    require_signature(header, lambda given: same_secret(given, expected), what=SECRET_HEADER)
