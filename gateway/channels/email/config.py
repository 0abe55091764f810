"""The email channel's sections: ``smtp`` (mail in: the server and the domains it takes
mail for) and ``channels.email`` (our address, the relay replies go out through, where
attachments are kept, and the limit on automatic replies)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator

from gateway.channels.config import Duration, GuardSecret, Secret, Section


class SmtpConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(2525, ge=0, le=65535)
    domains: list[str] = Field(default_factory=lambda: ["support.example.com"])
    max_message_bytes: int = Field(10 * 1024 * 1024, gt=0)
    hostname: str | None = None
    # A client silent this long (between commands, or within DATA) is disconnected.
    timeout: Duration = 60.0

    @field_validator("domains")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [d.strip().lower() for d in value]


class RelayConfig(Section):
    host: str
    port: int = 587
    username: str | None = None
    password: Secret | None = None
    starttls: bool = True
    use_tls: bool = False
    timeout: Duration = 30.0
    validate_certs: bool = True
    ca_file: Path | None = None  # trust this CA (a private relay's certificate)


class EmailChannelConfig(Section):
    address: str = "support@support.example.com"
    relay: RelayConfig | None = None
    reply_token_secret: GuardSecret | None = None  # else derived from channels.api.secret or a token
    attachments_dir: Path | None = None
    max_attachment_bytes: int = Field(10 * 1024 * 1024, gt=0)
    from_name: str | None = None
    auto_reply_limit: int = Field(3, ge=0)  # automatic messages per address per window
    auto_reply_window: Duration = 3600.0

    @field_validator("address")
    @classmethod
    def _mailbox(cls, value: str) -> str:
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError("must be a mailbox like support@support.example.com")
        return value.strip().lower()


@dataclass(frozen=True)
class EmailSections:
    """What the email channel is built from: ``smtp`` (mail in, on by default) and
    ``channels.email`` (defaults apply without it; sending needs its ``relay``)."""

    smtp: SmtpConfig
    email: EmailChannelConfig | None = None

    @property
    def enabled(self) -> bool:
        return self.email is not None or self.smtp.enabled
