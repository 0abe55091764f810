"""The WeChat Official Account adapter: ``GET,POST /webhooks/wechat`` in, the
customer-service API (``/cgi-bin/message/custom/send``) out.

WeChat waits 5 s for an answer and then retries (3 times in all), so the handler only
stores the push and answers ``success``; agents reply later through the customer-service
API, within 48 h of the customer's last message (error 45015 after it).

All three message modes work. With ``encoding_aes_key`` configured, every push that
carries ``<Encrypt>`` (safe and compatible mode) must have a valid ``msg_signature`` and
is read from the decrypted XML (``crypto.py``); without it, compatible mode is read from
its plaintext fields and a safe-mode push (only ``<Encrypt>``) is answered ``501``,
naming the missing key. The answer is always the plaintext ``success``, which WeChat
accepts in every mode.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from gateway.channels.base import (
    ChannelAdapter,
    InboundSink,
    not_started,
    nothing_to_send,
    send_http,
    wrong_recipient,
)
from gateway.channels.config import BuildContext, secret_text
from gateway.channels.kinds import ignored
from gateway.channels.textparts import PartProgress, send_parts, split_text, text_with_links, utf8_bytes
from gateway.channels.wechat.config import WeChatConfig
from gateway.channels.wechat.crypto import WeChatCrypto
from gateway.channels.wechat.parse import parse_push, read_xml
from gateway.channels.wechat.tokens import TOKEN_ERRORS, AccessTokens, SharedValues, TokenUnavailable
from gateway.channels.wechat.verify import verify_msg_signature, verify_signature
from gateway.errors import RequestRejected
from gateway.model import Channel, IdentityKind, OutboundRequest, SendResult

log = logging.getLogger(__name__)

# Customer-service text: kept under 2,048 bytes per message (about 680 Chinese characters).
MAX_TEXT_BYTES = 2048
# Errors no retry fixes, with what they mean for the agent.
FINAL_ERRORS = {
    40003: "not a follower of this account (invalid OpenID)",
    43004: "the customer no longer follows the account",
    45015: "the 48-hour reply window has closed (or the customer unfollowed)",
    45047: "too many replies since the customer's last message; wait for them to write again",
    45009: "the account's daily API quota is used up",
    48001: "the account is not authorised for the customer-service API",
    40164: "this server's IP address is not on the Official Account's IP whitelist",
}


class WeChatChannel(ChannelAdapter):
    name: ClassVar[str] = "wechat"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.WECHAT,)
    can_send: ClassVar[bool] = True

    def __init__(
        self,
        sink: InboundSink,
        *,
        token: str,
        app_id: str,
        app_secret: str,
        api_base_url: str,
        shared: SharedValues,
        tokens_margin: float = 300.0,
        encoding_aes_key: str | None = None,
    ) -> None:
        super().__init__(sink)
        self._token = token
        self.app_id = app_id
        self.crypto = (
            WeChatCrypto(token=token, encoding_aes_key=encoding_aes_key, app_id=app_id) if encoding_aes_key else None
        )
        self.api_base_url = api_base_url.rstrip("/")
        # The access token is shared with every other gateway process through storage.
        self.tokens = AccessTokens(
            api_base_url=self.api_base_url, app_id=app_id, app_secret=app_secret, shared=shared, margin=tokens_margin
        )
        self.parts = PartProgress()

    def __repr__(self) -> str:
        return f"WeChatChannel(app_id={self.app_id!r}, api_base_url={self.api_base_url!r})"

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/webhooks/wechat", self.handle_verify), web.post("/webhooks/wechat", self.handle)]

    async def handle_verify(self, request: web.Request) -> web.Response:
        """The server-URL check when the account is configured: echo ``echostr``."""
        verify_signature(self._token, request.query)
        echostr = request.query.get("echostr")
        if not echostr:
            raise RequestRejected(400, "bad_request", "echostr is missing")
        return web.Response(text=echostr, content_type="text/plain")

    async def handle(self, request: web.Request) -> web.Response:
        verify_signature(self._token, request.query)
        fields = read_xml(await request.read())
        if "Encrypt" in fields and self.crypto is not None:
            verify_msg_signature(self.crypto, request.query, fields["Encrypt"])
            fields = read_xml(self.crypto.decrypt(fields["Encrypt"]))
        elif request.query.get("encrypt_type", "raw").lower() == "aes" and not fields.get("MsgType"):
            if self.crypto is not None:
                raise RequestRejected(422, "invalid", "Encrypt: missing (the query says encrypt_type=aes)")
            raise RequestRejected(
                501,
                "encrypted_mode_unsupported",
                "safe (encrypted) mode needs channels.wechat.encoding_aes_key; "
                "set it to the account's EncodingAESKey, or use plaintext or compatible mode",
            )
        message = parse_push(fields)
        if isinstance(message, str):
            ignored(self.name, message)
        else:
            await self.sink.accept(message)
        return web.Response(text="success", content_type="text/plain")

    async def send(self, request: OutboundRequest) -> SendResult:
        http = self.http
        if http is None:
            return not_started(self.name)
        wrong = wrong_recipient(request, IdentityKind.WECHAT, address="wechat OpenID")
        if wrong:
            return wrong
        text = text_with_links(request.message)
        if not text.strip():
            return nothing_to_send()
        openid = request.recipient.value

        async def post(part: str) -> SendResult:
            payload = {"touser": openid, "msgtype": "text", "text": {"content": part}}
            return await self._custom_send(http, payload)

        parts = split_text(text, MAX_TEXT_BYTES, measure=utf8_bytes)
        return await send_parts(self.parts, request.message.id, parts, post)

    async def _custom_send(self, http: aiohttp.ClientSession, payload: dict[str, Any]) -> SendResult:
        """One customer-service message; a refused token is replaced and tried once more."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        for _attempt in (1, 2):
            try:
                token = await self.tokens.get(http)
            except TokenUnavailable as exc:
                return SendResult(ok=False, retryable=exc.retryable, error=str(exc))
            _, answer, failure = await send_http(
                http,
                "POST",
                f"{self.api_base_url}/cgi-bin/message/custom/send",
                params={"access_token": token},
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            if failure is not None:
                return failure.model_copy(update={"error": (failure.error or "").replace(token, "<token>")})
            data = answer if isinstance(answer, dict) else {}
            code = data.get("errcode", 0)
            if code == 0:
                return SendResult(ok=True)
            if code in TOKEN_ERRORS:
                # Dropped here and, unless another process already replaced it, in storage;
                # after a second refusal the send is retried later.
                try:
                    await self.tokens.invalidate(token)
                except TokenUnavailable as exc:
                    return SendResult(ok=False, retryable=exc.retryable, error=str(exc))
                continue
            message = f"wechat error {code}: {str(data.get('errmsg', ''))[:200]}"
            hint = FINAL_ERRORS.get(code)
            # -1 is "system busy"; an unknown code is worth the backoff retries too.
            return SendResult(ok=False, retryable=hint is None, error=f"{message} ({hint})" if hint else message)
        return SendResult(ok=False, retryable=True, error="wechat refused a fresh access token too")


def build(config: WeChatConfig, ctx: BuildContext) -> WeChatChannel:
    return WeChatChannel(
        ctx.sink,
        token=config.token.get_secret_value(),
        app_id=config.app_id,
        app_secret=config.app_secret.get_secret_value(),
        api_base_url=config.api_base_url,
        shared=ctx.shared,  # the access token is one for all gateway processes
        encoding_aes_key=secret_text(config.encoding_aes_key),
    )
