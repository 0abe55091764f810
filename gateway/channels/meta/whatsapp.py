"""The WhatsApp Cloud API adapter: webhooks in (``whatsapp_parse``), replies out.

Replies go to the customer's phone number, to their business-scoped user id when that
is all WhatsApp gave (a customer with a username), or to the group a message came from.
Free text goes within 24 h of the customer's last message; after it only an approved
template (``message.template = {name, language, params}``), sent as ``"type":
"template"`` with the params as body parameters. Replies go out from the number the
customer wrote to (the conversation's endpoint, a ``phone_number_id``), falling back to
``channels.whatsapp.phone_number_id``. Texts over 4,096 characters go as several messages.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.channels.base import InboundSink, not_started, nothing_to_send, wrong_recipient
from gateway.channels.config import BuildContext
from gateway.channels.fields import dict_of, list_of
from gateway.channels.meta.batch import Batch
from gateway.channels.meta.channel import MetaChannel
from gateway.channels.meta.config import WhatsAppConfig
from gateway.channels.meta.graph import graph_post
from gateway.channels.meta.whatsapp_parse import GROUP_PREFIX, parse_whatsapp
from gateway.channels.textparts import send_parts, split_text, text_with_links
from gateway.model import Channel, IdentityKind, OutboundRequest, SendResult


class WhatsAppChannel(MetaChannel):
    name: ClassVar[str] = "whatsapp"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.WHATSAPP,)
    supports_templates: ClassVar[bool] = True
    MAX_TEXT = 4096

    def __init__(
        self,
        sink: InboundSink,
        *,
        app_secret: str,
        verify_token: str,
        access_token: str,
        phone_number_id: str,
        api_base_url: str,
    ) -> None:
        super().__init__(sink, app_secret=app_secret, verify_token=verify_token, api_base_url=api_base_url)
        self._access_token = access_token
        self.phone_number_id = phone_number_id

    def serves(self, channel: Channel, endpoint: str) -> bool:
        """WhatsApp conversations of the Cloud API (not those of a Twilio sender)."""
        return channel is Channel.WHATSAPP and not endpoint.startswith("whatsapp:")

    def parse_batch(self, data: Any) -> Batch:
        return parse_whatsapp(data)

    async def send(self, request: OutboundRequest) -> SendResult:
        http = self.http
        if http is None:
            return not_started(self.name)
        base = recipient_fields(request)
        if base is None:
            return wrong_recipient(request, IdentityKind.PHONE, address="WhatsApp number or user id")  # type: ignore[return-value]
        url = f"{self.api_base_url}/{request.conversation.endpoint or self.phone_number_id}/messages"
        message = request.message

        async def post(payload: dict[str, Any]) -> SendResult:
            body, failure = await graph_post(http, url, self._access_token, {**base, **payload}, provider="whatsapp")
            if failure is not None:
                return failure
            sent = [dict_of(m).get("id") for m in list_of(dict_of(body).get("messages"))]
            return SendResult(ok=True, external_id=sent[0] if sent and isinstance(sent[0], str) else None)

        if message.template:
            return await post({"type": "template", "template": template_payload(message.template)})
        text = text_with_links(message)
        if not text.strip():
            return nothing_to_send(templates=True)
        parts = split_text(text, self.MAX_TEXT)
        return await send_parts(
            self.parts,
            message.id,
            parts,
            lambda part: post({"type": "text", "text": {"body": part, "preview_url": "://" in part}}),
        )


def recipient_fields(request: OutboundRequest) -> dict[str, Any] | None:
    """Whom a reply goes to: a phone number (``to``), a customer known only by their
    business-scoped user id (``recipient``), or a group (``recipient_type: group``)."""
    recipient = request.recipient
    base: dict[str, Any] = {"messaging_product": "whatsapp"}
    if recipient.kind is IdentityKind.PHONE:
        return {**base, "recipient_type": "individual", "to": recipient.value.lstrip("+")}
    if recipient.kind is IdentityKind.WHATSAPP and recipient.value.startswith(GROUP_PREFIX):
        return {**base, "recipient_type": "group", "to": recipient.value.removeprefix(GROUP_PREFIX)}
    if recipient.kind is IdentityKind.WHATSAPP:
        return {**base, "recipient_type": "individual", "recipient": recipient.value}
    return None


def template_payload(template: dict[str, Any]) -> dict[str, Any]:
    """``{name, language, params}`` → the Cloud API's template object."""
    payload: dict[str, Any] = {
        "name": template["name"],
        "language": {"code": template.get("language") or "en_US"},
    }
    params = template.get("params") or []
    if params:
        payload["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in params]},
        ]
    return payload


def build_whatsapp(config: WhatsAppConfig, ctx: BuildContext) -> WhatsAppChannel:
    return WhatsAppChannel(
        ctx.sink,
        app_secret=config.app_secret.get_secret_value(),
        verify_token=config.verify_token.get_secret_value(),
        access_token=config.access_token.get_secret_value(),
        phone_number_id=config.phone_number_id,
        api_base_url=config.api_base_url,
    )
