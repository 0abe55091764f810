"""The three Meta adapters: WhatsApp Cloud API, Messenger and Instagram.

Sending and the customer-service window:

* WhatsApp: free text within 24 h of the customer's last message; after it only an
  approved template (``message.template = {name, language, params}``), sent as
  ``"type": "template"`` with the params as body parameters. Replies go out from the
  number the customer wrote to (the conversation's endpoint, a ``phone_number_id``),
  falling back to ``channels.whatsapp.phone_number_id``.
* Messenger and Instagram: ``messaging_type: RESPONSE`` within 24 h. With
  ``human_agent_tag: true`` (Meta must have approved the Human Agent permission) a reply
  is allowed up to 7 days after the customer's last message and goes out as
  ``MESSAGE_TAG`` + ``tag: HUMAN_AGENT`` once the 24 h have passed.

Texts over the provider's limit (WhatsApp 4,096 characters, Messenger 2,000, Instagram
1,000 bytes) go as several messages (see ``gateway.channels.textparts``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from gateway.channels.base import InboundSink
from gateway.channels.fields import dict_of, list_of
from gateway.channels.meta import messaging_events, whatsapp_events
from gateway.channels.meta.batch import Batch
from gateway.channels.meta.graph import graph_post
from gateway.channels.meta.watermarks import ConversationReader
from gateway.channels.meta.webhook import MetaChannel
from gateway.channels.textparts import send_parts, split_text, text_with_links, utf8_bytes
from gateway.model import Channel, IdentityKind, OutboundRequest, SendResult

HUMAN_AGENT_DAYS = 7
WINDOW_HOURS = 24


def _nothing_to_send() -> SendResult:
    return SendResult(ok=False, retryable=False, error="nothing to send: no text, template or attachment link")


def _wrong_recipient(request: OutboundRequest, kind: IdentityKind) -> SendResult | None:
    if request.recipient.kind is kind:
        return None
    return SendResult(
        ok=False,
        retryable=False,
        error=f"the customer has no {kind.value} address on this conversation ({request.recipient.kind.value} given)",
    )


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

    def parse(self, data: Any) -> Batch:
        return whatsapp_events.parse(data)

    async def send(self, request: OutboundRequest) -> SendResult:
        http = self.http
        assert http is not None, "send() before start()"
        wrong = _wrong_recipient(request, IdentityKind.PHONE)
        if wrong:
            return wrong
        to = request.recipient.value.lstrip("+")
        url = f"{self.api_base_url}/{request.conversation.endpoint or self.phone_number_id}/messages"
        message = request.message
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}

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
            return _nothing_to_send()
        parts = split_text(text, self.MAX_TEXT)
        return await send_parts(
            self.parts,
            message.id,
            parts,
            lambda part: post({"type": "text", "text": {"body": part, "preview_url": "://" in part}}),
        )


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


class _PageMessaging(MetaChannel):
    """Messenger and Instagram: one Send API shape, a HUMAN_AGENT tag after 24 h."""

    identity_kind: ClassVar[IdentityKind]

    def __init__(
        self,
        sink: InboundSink,
        *,
        app_secret: str,
        verify_token: str,
        access_token: str,
        api_base_url: str,
        account_id: str | None,
        human_agent_tag: bool,
        reader: ConversationReader | None = None,
    ) -> None:
        super().__init__(
            sink, app_secret=app_secret, verify_token=verify_token, api_base_url=api_base_url, reader=reader
        )
        self._access_token = access_token
        self.account_id = account_id
        self.human_agent_tag = human_agent_tag

    def parse(self, data: Any) -> Batch:
        return messaging_events.parse(data, self.channels[0])

    def window_allows(self, *, expired_for: float, template: dict[str, Any] | None) -> bool:
        """After the 24 h window, human agents may still answer for up to 7 days in all."""
        if template is not None or not self.human_agent_tag:
            return False
        return expired_for <= (HUMAN_AGENT_DAYS * 24 - WINDOW_HOURS) * 3600

    max_text: ClassVar[int] = 2000

    def measure(self, text: str) -> int:
        return len(text)

    async def send(self, request: OutboundRequest) -> SendResult:
        http = self.http
        assert http is not None, "send() before start()"
        wrong = _wrong_recipient(request, self.identity_kind)
        if wrong:
            return wrong
        text = text_with_links(request.message)
        if not text.strip():
            return _nothing_to_send()
        window_end = request.conversation.window_expires_at
        tagged = self.human_agent_tag and window_end is not None and datetime.now(UTC) > window_end
        envelope: dict[str, Any] = {"recipient": {"id": request.recipient.value}}
        if tagged:
            envelope.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        else:
            envelope["messaging_type"] = "RESPONSE"
        url = f"{self.api_base_url}/{self.account_id or 'me'}/messages"

        async def post(part: str) -> SendResult:
            payload = {**envelope, "message": {"text": part}}
            body, failure = await graph_post(http, url, self._access_token, payload, provider=self.name)
            if failure is not None:
                return failure
            mid = dict_of(body).get("message_id")
            return SendResult(ok=True, external_id=mid if isinstance(mid, str) else None)

        result = await send_parts(
            self.parts, request.message.id, split_text(text, self.max_text, measure=self.measure), post
        )
        if tagged and result.ok:
            result.meta["tag"] = "HUMAN_AGENT"
        return result


class MessengerChannel(_PageMessaging):
    name: ClassVar[str] = "messenger"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.MESSENGER,)
    identity_kind: ClassVar[IdentityKind] = IdentityKind.MESSENGER
    max_text: ClassVar[int] = 2000


class InstagramChannel(_PageMessaging):
    name: ClassVar[str] = "instagram"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.INSTAGRAM,)
    identity_kind: ClassVar[IdentityKind] = IdentityKind.INSTAGRAM
    max_text: ClassVar[int] = 1000

    def measure(self, text: str) -> int:
        return utf8_bytes(text)
