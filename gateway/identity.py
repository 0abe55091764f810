"""Normalising identities so one person on several channels is one contact.

Phone numbers become E.164 (SMS, voice and WhatsApp share them), email addresses are
lower-cased; every other kind is an opaque provider id kept as sent.
"""

from __future__ import annotations

import re

import phonenumbers

from gateway.model import Identity, IdentityKind
from gateway.redaction import contains_card_number, mask_card_numbers

# Identities a customer (or their software) types, as opposed to ids a provider assigns:
# one holding a card number is refused, never stored, masked or hashed (a masked one could
# match another customer's; docs/security.md).
TYPED_KINDS = frozenset({IdentityKind.EMAIL, IdentityKind.API, IdentityKind.WEBCHAT})


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
        raise InvalidIdentity(f"not a phone number: {mask_card_numbers(raw)!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"not a possible phone number: {mask_card_numbers(raw)!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    text = raw.strip().strip("<>").strip().lower()
    if not _EMAIL.match(text):
        raise InvalidIdentity(f"not an email address: {mask_card_numbers(raw)!r}")
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
            raise InvalidIdentity(f"not a valid {kind.value} id: {mask_card_numbers(raw)!r}")
    if kind in TYPED_KINDS and contains_card_number(value):
        raise InvalidIdentity(f"a {kind.value} identity must not hold a card number")
    return Identity(kind=kind, value=value)
