"""The body of ``POST /webhooks/api`` (docs/channels/api.md) → one ``InboundMessage``. Pure."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.channels.kinds import attachment_lines
from gateway.errors import RequestRejected, parse_json_body
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Attachment, Channel, IdentityKind, InboundMessage, whole_number
from gateway.redaction import contains_card_number

MAX_TEXT = 20_000


class ApiSender(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=256)
    name: str | None = Field(default=None, max_length=256)
    email: str | None = None
    phone: str | None = None


class ApiAttachment(BaseModel):
    url: str = Field(max_length=2048)
    content_type: str = "application/octet-stream"
    name: str | None = None
    size: int | None = Field(default=None, ge=0)

    _size = field_validator("size", mode="before")(whole_number)  # never true/false or "5"


class ApiInbound(BaseModel):
    """The body of ``POST /webhooks/api`` (docs/channels/api.md)."""

    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        # What parse_message checks after the fields: a message has text or an attachment.
        json_schema_extra={
            "anyOf": [
                {"required": ["text"], "properties": {"text": {"pattern": r"\S"}}},
                {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
            ]
        },
    )

    id: str = Field(min_length=1, max_length=512)
    sender: ApiSender = Field(alias="from")
    text: str = Field(default="", max_length=MAX_TEXT)
    subject: str | None = Field(default=None, max_length=998)
    language: str | None = Field(default=None, max_length=16)
    attributes: dict[str, Any] = Field(default_factory=dict)
    attachments: list[ApiAttachment] = Field(default_factory=list, max_length=20)

    @field_validator("attributes")
    @classmethod
    def _flat(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > 50:
            raise ValueError("at most 50 attributes")
        for key, item in value.items():
            if not key or len(key) > 64:
                raise ValueError(f"attribute name {key!r} must be 1–64 characters")
            scalars = (str, int, float, bool, type(None))
            if not (
                isinstance(item, scalars) or (isinstance(item, list) and all(isinstance(i, scalars) for i in item))
            ):
                raise ValueError(f"attribute {key!r} must be a scalar or a list of scalars")
        return value


def parse_message(body: bytes, *, default_region: str | None = None) -> InboundMessage:
    """Raw body → one ``InboundMessage``; ``RequestRejected`` (400/422) when it cannot be."""
    data = parse_json_body(body)
    if not isinstance(data, dict):
        raise RequestRejected(422, "invalid", "the body must be a JSON object")
    try:
        payload = ApiInbound.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise RequestRejected(422, "invalid", problems) from None
    if contains_card_number(payload.id):
        # The id is the dedupe key: masked, two ids could collide; so it is refused.
        raise RequestRejected(422, "invalid", "id: must not hold a card number")
    if not payload.text.strip() and not payload.attachments:
        raise RequestRejected(422, "invalid", "text: a message needs text or an attachment")
    try:
        sender = make_identity(IdentityKind.API, payload.sender.id)
        extra = []
        if payload.sender.email:
            extra.append(make_identity(IdentityKind.EMAIL, payload.sender.email))
        if payload.sender.phone:
            extra.append(make_identity(IdentityKind.PHONE, payload.sender.phone, default_region=default_region))
    except InvalidIdentity as exc:
        raise RequestRejected(422, "invalid", f"from: {exc}") from None
    attachments = [Attachment(**a.model_dump()) for a in payload.attachments]
    return InboundMessage(
        channel=Channel.API,
        external_id=payload.id,
        endpoint="api",
        sender=sender,
        sender_name=payload.sender.name,
        extra_identities=extra,
        # Files alone read as lines naming them: never an empty message with content.
        text=payload.text if payload.text.strip() else attachment_lines(attachments),
        subject=payload.subject,
        language_hint=payload.language,
        attachments=attachments,
        contact_attributes=payload.attributes,
    )
