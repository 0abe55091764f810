"""Identity verification for sensitive matters: ``verification``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from gateway.channels.config import Duration, GuardSecret, Section


class VerificationConfig(Section):
    """Identity verification for sensitive matters (``gateway.verification``); off without
    the section. Codes go by SMS or email through the outbound service; web chat visitors
    may arrive verified with a signed JWT (``webchat_jwt_secret``)."""

    code_length: int = Field(6, ge=4, le=10)
    ttl: Duration = 600.0  # a code is good this long
    max_attempts: int = Field(5, ge=1, le=20)  # wrong answers that lock the code
    resend_after: Duration = 60.0  # no new code for the contact before this
    via: list[Literal["sms", "email"]] = Field(default_factory=lambda: ["sms", "email"], min_length=1)
    valid_for: Duration = 1800.0  # a verification counts this long
    # Keys the codes' salted hashes and rebuilds a code when it is sent: every gateway
    # process must have the same. Without it, one is derived from webchat_jwt_secret or
    # an auth token.
    secret: GuardSecret | None = None
    webchat_jwt_secret: GuardSecret | None = None
    jwt_leeway: Duration = 30.0  # clock skew allowed on a JWT's exp / nbf / iat
    # Codes sent per contact and per destination (phone number, mailbox) within send_window.
    max_sends_per_contact: int = Field(5, ge=1)
    max_sends_per_destination: int = Field(5, ge=1)
    send_window: Duration = 3600.0
    keep: Duration = 7 * 86400.0  # a record is kept this long after its last change

    @field_validator("webchat_jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (an HS256 key shorter than its hash is weak)")
        return value

    @field_validator("ttl", "valid_for", "send_window", "keep")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0")
        return value
