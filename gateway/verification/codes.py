"""One-time codes: made, hashed, compared, found in a customer's message, and the masks
agents see instead of an address.

A code is never stored. The store keeps a random ``nonce`` and the code's salted, keyed
hash (HMAC-SHA256 with the verification secret); the code is rebuilt from the secret and
the nonce at the moment it is sent, and an answer is checked against the hash in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

import phonenumbers

MAX_ANSWER_CHARS = 40  # a longer message is more than a code: it goes to agents as it is
_DIGITS = re.compile(r"\d(?:[\s\-]?\d)*")


def new_nonce() -> str:
    return secrets.token_hex(16)


def new_salt() -> str:
    return secrets.token_hex(16)


def code_for(secret: bytes, nonce: str, length: int) -> str:
    """The code of ``nonce``: ``length`` decimal digits from HMAC-SHA256(secret, nonce)."""
    digest = hmac.new(secret, b"code:" + nonce.encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**length:0{length}d}"


def code_hash(secret: bytes, salt: str, code: str) -> str:
    return hmac.new(secret, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def matches(secret: bytes, salt: str, stored: str, candidate: str) -> bool:
    """Whether ``candidate`` is the code hashed as ``stored`` (constant-time compare)."""
    return bool(stored) and hmac.compare_digest(code_hash(secret, salt, candidate), stored)


def code_in(text: str, length: int) -> str | None:
    """The code in a short message (``123456``, ``123 456``, ``验证码：123456``), or None when
    it holds no run of exactly ``length`` digits or more than one run of digits."""
    normal = unicodedata.normalize("NFKC", text or "").strip()
    if not normal or len(normal) > MAX_ANSWER_CHARS:
        return None
    runs = _DIGITS.findall(normal)
    if len(runs) != 1:
        return None
    digits = re.sub(r"\D", "", runs[0])
    return digits if len(digits) == length and digits.isascii() else None


def mask_phone(e164: str) -> str:
    """``+8613812348000`` → ``+86 138****8000``: country code, first three and last four."""
    try:
        number = phonenumbers.parse(e164)
        country, national = f"+{number.country_code}", str(number.national_number)
    except phonenumbers.NumberParseException:
        country, national = "", e164.lstrip("+")
    if len(national) <= 7:
        return f"{country} {'*' * (len(national) - 2)}{national[-2:]}".strip()
    return f"{country} {national[:3]}{'*' * (len(national) - 7)}{national[-4:]}".strip()


def mask_email(address: str) -> str:
    """``alice@example.com`` → ``a***e@example.com``."""
    local, _, domain = address.partition("@")
    shown = f"{local[0]}***{local[-1]}" if len(local) > 2 else f"{local[:1]}***"
    return f"{shown}@{domain}"
