"""Signed conversation tokens in reply addresses and in our own Message-IDs.

A reply goes out with ``Reply-To: support+<token>@domain`` and a Message-ID that carries
the same token, so a customer's answer finds its conversation even when their client
dropped In-Reply-To/References, and a bounce names the reply it is about. The token is
the conversation id with an HMAC tag: it cannot be guessed or pointed at someone else's
conversation. Local parts are case-insensitive in practice, so the token is lower-case
and the id's case is restored on reading.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re

log = logging.getLogger(__name__)

_TAG_BYTES = 10  # 80 bits, 16 base32 characters
_TOKEN = re.compile(r"^([a-z0-9_\-]{1,64})\.([a-z2-7]{16})$")


def derive_secret(explicit: str | None, fallbacks: list[str]) -> bytes:
    """The token key: ``channels.email.reply_token_secret``, else one derived from another
    configured secret (never that secret itself), else a random one for this process
    only (tokens then stop verifying after a restart; threading by headers still works)."""
    if explicit:
        return explicit.encode()
    for material in fallbacks:
        if material:
            return hmac.new(material.encode(), b"gateway email reply token v1", hashlib.sha256).digest()
    log.warning("no secret configured for email reply tokens; using a random one for this process")
    return os.urandom(32)


class ReplyTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return "ReplyTokens(secret=***)"

    def _tag(self, conversation_id: str) -> str:
        digest = hmac.new(self._secret, b"conversation:" + conversation_id.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest[:_TAG_BYTES]).decode().lower()

    def token(self, conversation_id: str) -> str:
        return f"{conversation_id.lower()}.{self._tag(conversation_id)}"

    def conversation(self, token: str) -> str | None:
        """The conversation id a token was made for, or None when it does not verify."""
        match = _TOKEN.match(token.strip().lower())
        if not match:
            return None
        lowered, tag = match.groups()
        prefix, sep, rest = lowered.partition("_")
        candidates = [f"{prefix}{sep}{rest.upper()}", lowered, lowered.upper()]
        for candidate in dict.fromkeys(candidates):
            if hmac.compare_digest(self._tag(candidate), tag):
                return candidate
        return None

    def reply_address(self, address: str, conversation_id: str) -> str:
        local, _, domain = address.rpartition("@")
        local = local.split("+", 1)[0]
        return f"{local}+{self.token(conversation_id)}@{domain}"

    def conversation_from_address(self, address: str) -> str | None:
        local = address.strip().strip("<>").rpartition("@")[0]
        _, plus, token = local.partition("+")
        return self.conversation(token) if plus else None

    def message_id(self, message_id: str, conversation_id: str, domain: str) -> str:
        """Our Message-ID for an outbound message (without angle brackets); stable per
        message, so a retried send carries the same id and the recipient sees one mail."""
        return f"{message_id}.{self.token(conversation_id)}@{domain}"

    def conversation_from_message_id(self, message_id: str) -> str | None:
        local = message_id.strip().strip("<>").rpartition("@")[0]
        parts = local.rsplit(".", 2)
        if len(parts) != 3:
            return None
        return self.conversation(f"{parts[1]}.{parts[2]}")
