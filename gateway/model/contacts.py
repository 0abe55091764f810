"""Who writes: channels, identities (a phone number, a mailbox, a provider's user id) and contacts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from gateway.model.basics import Model


class Channel(StrEnum):
    API = "api"
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    WEBCHAT = "webchat"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    WECHAT = "wechat"
    FORM = "form"  # the feedback form (``/feedback``): answered by email or SMS


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    WECHAT = "wechat"
    WEBCHAT = "webchat"
    API = "api"
    # WhatsApp ids that are not phone numbers: a business-scoped user id (a customer with
    # a username, ``US.1349…``) or a group (``group:<id>``).
    WHATSAPP = "whatsapp"
    # A user of the business's own site, as its signed web chat identity names them
    # (``user:<sub>``, gateway.channels.webchat.signed).
    USER = "user"


class Identity(Model):
    """One address of a person, already normalised (see ``gateway.identity``)."""

    model_config = ConfigDict(frozen=True)

    kind: IdentityKind
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.value}"

    @classmethod
    def from_key(cls, key: str) -> Identity:
        kind, _, value = key.partition(":")
        return cls(kind=IdentityKind(kind), value=value)


class Contact(Model):
    id: str
    name: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)
    identities: list[Identity] = Field(default_factory=list)
    created_at: datetime
    merged_into: str | None = None
