"""Visitor tokens: the only credential a web chat visitor has.

A token is ``wc1.<visitor id>.<signature>``, the signature being the URL-safe base64 of
HMAC-SHA256 over ``wc1.<visitor id>`` with the token key. It is stateless (nothing to
store per visitor, any gateway process can check it) and it names exactly one visitor:
changing the id breaks the signature, so a token cannot be edited into someone else's,
and without the key none can be made. The widget keeps it in ``localStorage``; rotating
the key makes every visitor start a fresh conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from gateway.model import new_id

VERSION = "wc1"
_VISITOR_ID = re.compile(r"v_[0-9A-Z]{26}")  # fullmatch
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_KEY_LABEL = b"omnichannel-gateway webchat visitor token v1"


def derive_token_key(secret: str) -> bytes:
    """A key for visitor tokens from a configured secret, one-way and separate from its
    other use: knowing the token key tells nothing about the API secret or ops token."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


class VisitorTokens:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the visitor token key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "VisitorTokens(key=<hidden>)"

    def _sign(self, visitor_id: str) -> str:
        digest = hmac.new(self._key, f"{VERSION}.{visitor_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def mint(self) -> tuple[str, str]:
        """A new visitor: (visitor id, token)."""
        visitor_id = new_id("v")
        return visitor_id, self.issue(visitor_id)

    def for_user(self, sub: str) -> tuple[str, str]:
        """The visitor of a signed-in user (``u_…``, the same for ``sub`` on every device):
        (visitor id, token). Such a token is never taken without the signed identity, so
        whoever uses the browser after the user signed out starts a chat of their own."""
        digest = hmac.new(self._key, f"user:{sub}".encode(), hashlib.sha256).digest()
        value = int.from_bytes(digest[:17], "big")
        visitor_id = "u_" + "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(26))
        return visitor_id, self.issue(visitor_id)

    def issue(self, visitor_id: str) -> str:
        return f"{VERSION}.{visitor_id}.{self._sign(visitor_id)}"

    def verify(self, token: object) -> str | None:
        """The visitor id the token was issued for, or None for anything else."""
        # Tokens are ASCII; anything else (e.g. a lone surrogate from JSON) names nobody.
        if not isinstance(token, str) or len(token) > 200 or not token.isascii():
            return None
        version, _, rest = token.partition(".")
        visitor_id, _, signature = rest.partition(".")
        if version != VERSION or not _VISITOR_ID.fullmatch(visitor_id):
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(visitor_id).encode()):
            return None
        return visitor_id
