"""What every webhook's ``verify_*`` step shares: one status rule and HMAC-SHA256.

The rule, the same on every path: **401** when the signature (or shared secret) the
provider sends is missing, **403** when it is there but does not verify. Comparisons are
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from gateway.errors import RequestRejected


def require_signature(given: str | None, verifies: Callable[[str], bool], *, what: str) -> str:
    """``given`` when ``verifies(given)``; else ``RequestRejected`` 401 (missing or empty)
    or 403 (wrong). ``what`` names the header or parameter in the error."""
    given = signature_present(given, what=what)
    if not verifies(given):
        raise bad_signature(f"{what} does not match")
    return given


def signature_present(given: str | None, *, what: str) -> str:
    """``given``, or 401 ``unsigned`` when it is missing or empty."""
    if not given:
        raise RequestRejected(401, "unsigned", f"{what} is missing")
    return given


def bad_signature(message: str) -> RequestRejected:
    """403 ``bad_signature``: a signature was given and does not verify."""
    return RequestRejected(403, "bad_signature", message)


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(header: str, secret: str, body: bytes, *, prefix: str = "sha256=") -> bool:
    """``<prefix><hex HMAC-SHA256 of the raw body>``, compared in constant time."""
    if not header.startswith(prefix):
        return False
    expected = prefix + hmac_sha256_hex(secret, body)
    return hmac.compare_digest(header.strip().encode(), expected.encode())
