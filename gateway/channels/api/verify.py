"""``X-Gateway-Signature: sha256=<hex HMAC-SHA256 of the raw body>``, keyed with
``channels.api.secret``: 401 without it, 403 when it does not match."""

from __future__ import annotations

from gateway.channels.signatures import require_signature, signature_matches

SIGNATURE_HEADER = "X-Gateway-Signature"


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    require_signature(header, lambda given: signature_matches(given, secret, body), what=SIGNATURE_HEADER)
