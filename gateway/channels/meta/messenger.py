"""The Messenger and Instagram adapters: webhooks in (``messenger_parse``), replies out
through the one Send API shape they share.

Replies go as ``messaging_type: RESPONSE`` within 24 h of the customer's last message.
With ``human_agent_tag: true`` (Meta must have approved the Human Agent permission) a
reply is allowed up to 7 days after it and goes out as ``MESSAGE_TAG`` + ``tag:
HUMAN_AGENT`` once the 24 h have passed. Texts over the limit (Messenger 2,000
characters, Instagram 1,000 bytes) go as several messages (``gateway.channels.textparts``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import SecretStr

from gateway.channels.base import InboundSink, not_started, nothing_to_send, wrong_recipient
from gateway.channels.config import BuildContext
from gateway.channels.fields import dict_of
from gateway.channels.meta.batch import Batch
from gateway.channels.meta.channel import MetaChannel
from gateway.channels.meta.config import InstagramConfig, MessengerConfig
from gateway.channels.meta.graph import graph_post
from gateway.channels.meta.messenger_parse import parse_messenger
from gateway.channels.meta.watermarks import ConversationReader
from gateway.channels.textparts import send_parts, split_text, text_with_links, utf8_bytes
from gateway.model import Channel, IdentityKind, OutboundRequest, SendResult

HUMAN_AGENT_DAYS = 7
WINDOW_HOURS = 24


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

    def parse_batch(self, data: Any) -> Batch:
        return parse_messenger(data, self.channels[0])

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
        if http is None:
            return not_started(self.name)
        wrong = wrong_recipient(request, self.identity_kind)
        if wrong:
            return wrong
        text = text_with_links(request.message)
        if not text.strip():
            return nothing_to_send()
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


def build_messenger(config: MessengerConfig, ctx: BuildContext) -> MessengerChannel:
    return MessengerChannel(ctx.sink, **_page_settings(config, ctx, config.page_access_token, config.page_id))


def build_instagram(config: InstagramConfig, ctx: BuildContext) -> InstagramChannel:
    return InstagramChannel(ctx.sink, **_page_settings(config, ctx, config.access_token, config.account_id))


def _page_settings(
    config: MessengerConfig | InstagramConfig, ctx: BuildContext, access_token: SecretStr, account_id: str | None
) -> dict[str, Any]:
    """The two sections name their token and account differently (a contract: docs/channels/meta.md)."""
    return {
        "app_secret": config.app_secret.get_secret_value(),
        "verify_token": config.verify_token.get_secret_value(),
        "access_token": access_token.get_secret_value(),
        "api_base_url": config.api_base_url,
        "account_id": account_id,
        "human_agent_tag": config.human_agent_tag,
        "reader": ctx.reader,
    }
