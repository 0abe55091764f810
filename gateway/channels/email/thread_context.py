"""What a reply needs to answer the customer's latest mail, kept on the conversation.

The conversation attribute ``email_thread`` holds the latest customer Message-ID and its
References chain, so a reply's In-Reply-To names the mail it answers and its References
continue the chain (RFC 5322 §3.6.4). It is base32 text on purpose: ingest masks card
numbers in every attribute, and Message-IDs are full of long digit runs that can pass
the Luhn check — plain IDs would sometimes come back masked.
"""

from __future__ import annotations

import base64
import binascii
import json

ATTRIBUTE = "email_thread"
MAX_REFERENCES = 20


def encode(message_id: str, references: list[str]) -> str:
    chain = [*[r for r in references if r != message_id][-(MAX_REFERENCES - 1) :], message_id]
    data = json.dumps({"in_reply_to": message_id, "references": chain}, separators=(",", ":")).encode()
    return base64.b32encode(data).decode().rstrip("=").lower()


def decode(value: object) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) from the attribute; (None, []) when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None, []
    try:
        padded = value.upper() + "=" * (-len(value) % 8)
        data = json.loads(base64.b32decode(padded))
        in_reply_to = data.get("in_reply_to")
        references = [str(r) for r in data.get("references", []) if isinstance(r, str)]
    except (binascii.Error, ValueError, AttributeError, UnicodeDecodeError):
        return None, []
    return (in_reply_to if isinstance(in_reply_to, str) else None), references
