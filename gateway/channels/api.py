"""The generic API channel: a CRM or app posts signed JSON; replies go to its callback.

Inbound ``POST /webhooks/api`` carries ``X-Gateway-Signature: sha256=<hex HMAC-SHA256 of
the raw body>`` keyed with ``channels.api.secret``. Replies (agent answers, and later
FAQ answers and rating requests) are POSTed to ``channels.api.callback_url``, signed the
same way so the receiver can check them with the code it already has.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.channels.base import (
    ChannelAdapter,
    InboundSink,
    RequestRejected,
    SendNotSupported,
    hmac_sha256_hex,
    parse_json_body,
    send_http,
    signature_matches,
)
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import (
    Attachment,
    Channel,
    IdentityKind,
    InboundMessage,
    OutboundRequest,
    SendResult,
)

SIGNATURE_HEADER = "X-Gateway-Signature"
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


class ApiInbound(BaseModel):
    """The body of ``POST /webhooks/api`` (DESIGN §5.3)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

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


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return signature_matches(header, secret, body)


def parse(body: bytes, *, default_region: str | None = None) -> InboundMessage:
    """Raw body → one ``InboundMessage``; ``RequestRejected`` (400/422) when it cannot be."""
    data = parse_json_body(body)
    if not isinstance(data, dict):
        raise RequestRejected(422, "invalid", "the body must be a JSON object")
    try:
        payload = ApiInbound.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise RequestRejected(422, "invalid", problems) from None
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
    return InboundMessage(
        channel=Channel.API,
        external_id=payload.id,
        endpoint="api",
        sender=sender,
        sender_name=payload.sender.name,
        extra_identities=extra,
        text=payload.text,
        subject=payload.subject,
        language_hint=payload.language,
        attachments=[Attachment(**a.model_dump()) for a in payload.attachments],
        contact_attributes=payload.attributes,
    )


class ApiChannel(ChannelAdapter):
    name: ClassVar[str] = "api"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.API,)

    def __init__(self, sink: InboundSink, *, secret: str, callback_url: str | None, default_region: str | None) -> None:
        super().__init__(sink)
        self._secret = secret
        self._callback_url = callback_url
        self._default_region = default_region

    def __repr__(self) -> str:
        return f"ApiChannel(callback_url={self._callback_url!r})"

    @property
    def can_send(self) -> bool:  # type: ignore[override]
        return bool(self._callback_url)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/webhooks/api", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self._secret, body, request.headers.get(SIGNATURE_HEADER)):
            raise RequestRejected(401, "bad_signature", f"missing or wrong {SIGNATURE_HEADER}")
        message = parse(body, default_region=self._default_region)
        result = await self.sink.accept(message)
        return web.json_response(
            {"conversation_id": result.conversation_id, "message_id": result.message_id, "duplicate": result.duplicate}
        )

    async def send(self, request: OutboundRequest) -> SendResult:
        if not self._callback_url:
            raise SendNotSupported("channels.api.callback_url is not configured, so replies have nowhere to go")
        assert self.http is not None
        message = request.message
        body = json.dumps(
            {
                "type": "message.outbound",
                "id": message.id,
                "conversation_id": request.conversation.id,
                "to": {"id": request.recipient.value},
                "text": message.text,
                "attachments": [a.model_dump(exclude_none=True) for a in message.attachments],
                "sender": message.sender.model_dump(exclude_none=True),
                "created_at": message.received_at.isoformat(),
                "flags": message.flags,
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: "sha256=" + hmac_sha256_hex(self._secret, body),
        }
        _, _, failure = await send_http(self.http, "POST", self._callback_url, data=body, headers=headers)
        if failure is not None:
            return failure
        return SendResult(ok=True, external_id=message.id)
