"""The API channel's adapter: ``POST /webhooks/api`` in, the callback URL out.

Inbound requests are verified (``verify``) and parsed (``parse``) before the sink stores
them. Replies (agent answers, FAQ answers, rating requests) are POSTed to
``channels.api.callback_url``, signed the same way, so the receiver can check them with
the code it already has.
"""

from __future__ import annotations

import json
from typing import ClassVar

import orjson
from aiohttp import web

from gateway.channels.api.config import ApiChannelConfig
from gateway.channels.api.parse import parse_message
from gateway.channels.api.verify import SIGNATURE_HEADER, verify_signature
from gateway.channels.base import ChannelAdapter, InboundSink, SendNotSupported, not_started, send_http
from gateway.channels.config import BuildContext
from gateway.channels.signatures import hmac_sha256_hex
from gateway.errors import header_text
from gateway.model import Channel, OutboundRequest, SendResult


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
        verify_signature(self._secret, body, header_text(request.headers, SIGNATURE_HEADER))
        message = parse_message(body, default_region=self._default_region)
        result = await self.sink.accept(message)
        return web.Response(
            body=orjson.dumps(
                {
                    "conversation_id": result.conversation_id,
                    "message_id": result.message_id,
                    "duplicate": result.duplicate,
                }
            ),
            content_type="application/json",
        )

    async def send(self, request: OutboundRequest) -> SendResult:
        if not self._callback_url:
            raise SendNotSupported("channels.api.callback_url is not configured, so replies have nowhere to go")
        if self.http is None:
            return not_started(self.name)
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


def build(config: ApiChannelConfig, ctx: BuildContext) -> ApiChannel:
    return ApiChannel(
        ctx.sink,
        secret=config.secret.get_secret_value(),
        callback_url=config.callback_url,
        default_region=ctx.default_region,
    )
