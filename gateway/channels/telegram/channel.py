"""The Telegram adapter: ``POST /webhooks/telegram`` in (verify, parse, store),
``sendMessage`` out (with ``business_connection_id`` in a Telegram Business chat).
Replies over 4,096 characters (UTF-16 units, as Telegram counts)
go as several messages.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from aiohttp import web

from gateway.channels.base import (
    ChannelAdapter,
    InboundSink,
    not_started,
    nothing_to_send,
    send_http,
    wrong_recipient,
)
from gateway.channels.config import BuildContext
from gateway.channels.fields import dict_of
from gateway.channels.kinds import ignored
from gateway.channels.telegram.config import TelegramConfig
from gateway.channels.telegram.parse import BUSINESS, parse_update
from gateway.channels.telegram.verify import SECRET_HEADER, verify_secret_token
from gateway.channels.textparts import PartProgress, send_parts, split_text, text_with_links, utf16_units
from gateway.errors import header_text, parse_json_body
from gateway.model import Amendment, Channel, IdentityKind, OutboundRequest, SendResult

log = logging.getLogger(__name__)

MAX_TEXT = 4096


class TelegramChannel(ChannelAdapter):
    name: ClassVar[str] = "telegram"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.TELEGRAM,)
    can_send: ClassVar[bool] = True

    def __init__(self, sink: InboundSink, *, bot_token: str, secret_token: str, api_base_url: str) -> None:
        super().__init__(sink)
        self._bot_token = bot_token
        self._secret_token = secret_token
        self.api_base_url = api_base_url.rstrip("/")
        # The bot's numeric id is the public part of its token ("123456:ABC…").
        self.bot_id = bot_token.split(":", 1)[0] if ":" in bot_token else "bot"
        self.parts = PartProgress()

    def __repr__(self) -> str:
        return f"TelegramChannel(bot_id={self.bot_id!r}, api_base_url={self.api_base_url!r})"

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/webhooks/telegram", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        verify_secret_token(self._secret_token, header_text(request.headers, SECRET_HEADER))
        update = parse_update(parse_json_body(await request.read()), endpoint=self.bot_id)
        if update.ignored is not None:
            ignored(self.name, update.ignored)
            return web.json_response({"ignored": True, "kind": update.ignored})
        duplicate = False
        for event in update.events:
            if isinstance(event, Amendment):
                outcome = (await self.sink.amend(event)).outcome
                duplicate = duplicate or outcome == "duplicate"
                if outcome == "not_found":
                    ignored(self.name, f"{event.action}_unknown_message")
            else:
                duplicate = duplicate or (await self.sink.accept(event)).duplicate
        return web.json_response({"ignored": False, "duplicate": duplicate})

    def _redact(self, text: str) -> str:
        return text.replace(self._bot_token, "<bot token>")

    async def send(self, request: OutboundRequest) -> SendResult:
        http = self.http
        if http is None:
            return not_started(self.name)
        wrong = wrong_recipient(request, IdentityKind.TELEGRAM, address="telegram chat")
        if wrong:
            return wrong
        text = text_with_links(request.message)
        if not text.strip():
            return nothing_to_send()
        chat_id = request.recipient.value
        url = f"{self.api_base_url}/bot{self._bot_token}/sendMessage"
        target: dict[str, str] = {"chat_id": chat_id}
        endpoint = request.conversation.endpoint
        if endpoint.startswith(BUSINESS):  # a Telegram Business chat: sent as the business
            target["business_connection_id"] = endpoint.removeprefix(BUSINESS)

        async def post(part: str) -> SendResult:
            _, body, failure = await send_http(http, "POST", url, json={**target, "text": part})
            if isinstance(body, dict) and body.get("ok") is False:
                description = self._redact(str(body.get("description") or ""))[:300]
                retry_after = dict_of(body.get("parameters")).get("retry_after")
                error = f"telegram {body.get('error_code')}: {description}"
                if retry_after:
                    error += f" (retry after {retry_after} s)"
                retryable = failure.retryable if failure else False
                return SendResult(ok=False, retryable=retryable, error=error)
            if failure is not None:
                return failure.model_copy(update={"error": self._redact(failure.error or "")})
            result = dict_of(dict_of(body).get("result"))
            message_id = result.get("message_id")
            return SendResult(ok=True, external_id=f"{chat_id}:{message_id}" if message_id is not None else None)

        return await send_parts(self.parts, request.message.id, split_text(text, MAX_TEXT, measure=utf16_units), post)


def build(config: TelegramConfig, ctx: BuildContext) -> TelegramChannel:
    return TelegramChannel(
        ctx.sink,
        bot_token=config.bot_token.get_secret_value(),
        secret_token=config.secret_token.get_secret_value(),
        api_base_url=config.api_base_url,
    )
