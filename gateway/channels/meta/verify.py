"""Is it from Meta? The subscription handshake and ``X-Hub-Signature-256``.

Meta signs the bytes it sends, and it sends non-ASCII text escaped (``"\\u4ed8"``): the
HMAC is taken over the raw body before anything is decoded, so Chinese text verifies
exactly as it arrived. 401 without the signature (or the handshake's verify token), 403
when it does not match.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.channels.signatures import require_signature, same_secret, signature_matches
from gateway.errors import RequestRejected

SIGNATURE_HEADER = "X-Hub-Signature-256"


def verify_signature(app_secret: str, body: bytes, header: str | None) -> None:
    require_signature(header, lambda given: signature_matches(given, app_secret, body), what=SIGNATURE_HEADER)


def verify_subscription(verify_token: str, query: Mapping[str, str]) -> str:
    """Meta's ``hub.challenge`` handshake when the webhook URL is registered: the
    challenge to echo, once ``hub.verify_token`` matches and ``hub.mode`` is subscribe."""
    require_signature(
        query.get("hub.verify_token"), lambda given: same_secret(given, verify_token), what="hub.verify_token"
    )
    if query.get("hub.mode", "") != "subscribe":
        raise RequestRejected(403, "bad_mode", "hub.mode must be subscribe")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise RequestRejected(400, "bad_request", "hub.challenge is missing")
    return challenge
