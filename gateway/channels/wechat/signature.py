"""WeChat's request signature: ``sha1`` of the sorted ``token``, ``timestamp`` and
``nonce``, hex. It authenticates the request URL (not the body) and comes on every GET
and POST; a request without a valid one is refused with 403."""

from __future__ import annotations

import hashlib
import hmac


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()


def signature_valid(token: str, *, signature: str | None, timestamp: str | None, nonce: str | None) -> bool:
    if not signature or not timestamp or not nonce:
        return False
    expected = wechat_signature(token, timestamp, nonce)
    return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())
