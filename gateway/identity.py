"""Normalising identities so one person on several channels is one contact.

Phone numbers become E.164 (SMS, voice and WhatsApp share them), email addresses are
lower-cased; every other kind is an opaque provider id kept as sent.
"""

from __future__ import annotations

import re

import phonenumbers

from gateway.model import Identity, IdentityKind


class InvalidIdentity(ValueError):
    """A value that cannot be an identity of its kind (e.g. not a phone number)."""


_EMAIL = re.compile(r"^[^@\s<>\ufffd]+@[^@\s<>\ufffd]+\.[^@\s<>\ufffd]+$")  # U+FFFD: bytes no one could read


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    text = raw.strip()
    if text.lower().startswith(("whatsapp:", "tel:", "sip:")):
        text = text.split(":", 1)[1]
    digits_only = re.sub(r"[\s().\-]", "", text)
    if digits_only.isdigit() and default_region is None:
        # Provider ids such as WhatsApp's wa_id are E.164 without the plus sign.
        digits_only = "+" + digits_only
    try:
        number = phonenumbers.parse(digits_only, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    text = raw.strip().strip("<>").strip().lower()
    if not _EMAIL.match(text):
        raise InvalidIdentity(f"not an email address: {raw!r}")
    return text


def make_identity(kind: IdentityKind | str, raw: str, *, default_region: str | None = None) -> Identity:
    kind = IdentityKind(kind)
    if kind is IdentityKind.PHONE:
        value = normalize_phone(raw, default_region)
    elif kind is IdentityKind.EMAIL:
        value = normalize_email(raw)
    else:
        value = raw.strip()
        if not value or len(value) > 256 or any(c.isspace() for c in value):
            raise InvalidIdentity(f"not a valid {kind.value} id: {raw!r}")
    return Identity(kind=kind, value=value)
