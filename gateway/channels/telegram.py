"""Telegram bots: ``POST /webhooks/telegram`` in, ``sendMessage`` out.

Decisions (see the README's Telegram section):

* A support bot talks to customers one to one: only private chats become messages.
  Group, supergroup and channel updates, bots, and update kinds that are not messages
  (callback queries, member changes, polls) are acknowledged and ignored.
* The identity is ``telegram:<chat.id>``; in a private chat that is the user's id, and it
  is where replies go (``sendMessage`` ``chat_id``).
* The dedupe key is ``update_id``. An edited message is stored as a new message flagged
  ``edited`` with ``meta.edited_message_id``, so the agent sees what changed.
* Media (photo — the largest size —, document, voice, audio, video, sticker…) become
  attachments carrying Telegram's ``file_id``; a caption is the text.
* Replies over 4,096 characters (UTF-16 units, as Telegram counts) go as several
  messages.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from typing import Any, ClassVar

from aiohttp import web

from gateway.channels.base import (
    ChannelAdapter,
    InboundSink,
    RequestRejected,
    parse_json_body,
    send_http,
)
from gateway.channels.fields import BadEvent, dict_of, from_epoch, list_of, location_text, optional_text
from gateway.channels.textparts import PartProgress, send_parts, split_text, text_with_links, utf16_units
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Attachment, Channel, Identity, IdentityKind, InboundMessage, OutboundRequest, SendResult

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
MESSAGE_KINDS = ("message", "edited_message")
# (field, default MIME type) of the media a message may carry, one per message.
MEDIA = (
    ("document", "application/octet-stream"),
    ("voice", "audio/ogg"),
    ("audio", "audio/mpeg"),
    ("video", "video/mp4"),
    ("video_note", "video/mp4"),
    ("animation", "video/mp4"),
)


def parse(data: Any, *, endpoint: str) -> InboundMessage | None:
    """An Update → one message, or ``None`` for updates a support bot ignores."""
    if not isinstance(data, dict):
        raise RequestRejected(422, "invalid", "the body must be a JSON object (an Update)")
    update_id = data.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise RequestRejected(422, "invalid", "update_id: must be an integer")
    kind = next((k for k in MESSAGE_KINDS if isinstance(data.get(k), dict)), None)
    if kind is None:
        return None
    msg = data[kind]
    chat = dict_of(msg.get("chat"))
    sender = dict_of(msg.get("from"))
    if chat.get("type") != "private" or sender.get("is_bot"):
        return None
    try:
        identity = make_identity(IdentityKind.TELEGRAM, str(chat.get("id", "")))
    except InvalidIdentity as exc:
        raise RequestRejected(422, "invalid", f"message.chat.id: {exc}") from None
    try:
        text, attachments, meta, extra = _content(msg, sender)
    except BadEvent as exc:
        raise RequestRejected(422, "invalid", f"{kind}: {exc}") from None
    flags = []
    provider_ts = from_epoch(msg.get("date"))
    if kind == "edited_message":
        flags.append("edited")
        meta["edited_message_id"] = msg.get("message_id")
        provider_ts = from_epoch(msg.get("edit_date")) or provider_ts
    name = " ".join(p for p in (optional_text(sender.get("first_name")), optional_text(sender.get("last_name"))) if p)
    return InboundMessage(
        channel=Channel.TELEGRAM,
        external_id=str(update_id),
        endpoint=endpoint,
        sender=identity,
        sender_name=name or optional_text(sender.get("username")) or None,
        extra_identities=extra,
        text=text,
        attachments=attachments,
        provider_ts=provider_ts,
        language_hint=optional_text(sender.get("language_code")) or None,
        flags=flags,
        meta=meta,
    )


def _content(
    msg: dict[str, Any], sender: dict[str, Any]
) -> tuple[str, list[Attachment], dict[str, Any], list[Identity]]:
    text = optional_text(msg.get("text")) or optional_text(msg.get("caption"))
    attachments: list[Attachment] = []
    meta: dict[str, Any] = {"message_id": msg.get("message_id")}
    if sender.get("username"):
        meta["username"] = sender["username"]
    extra: list[Identity] = []

    photos = [dict_of(p) for p in list_of(msg.get("photo")) if isinstance(p, dict) and p.get("file_id")]
    if photos:
        largest = max(photos, key=lambda p: (_int(p.get("width")) * _int(p.get("height")), _int(p.get("file_size"))))
        attachments.append(_attachment(largest, "image/jpeg"))
    for field, default in MEDIA:
        media = msg.get(field)
        if isinstance(media, dict):
            if not media.get("file_id"):
                raise BadEvent(f"{field}.file_id is missing")
            attachments.append(_attachment(media, default))
            if field == "voice":
                meta["voice"] = True
            break
    sticker = dict_of(msg.get("sticker"))
    if sticker.get("file_id"):
        sticker_type = (
            "video/webm"
            if sticker.get("is_video")
            else "application/x-tgsticker"
            if sticker.get("is_animated")
            else "image/webp"
        )
        attachments.append(_attachment(sticker, sticker_type))
        text = text or optional_text(sticker.get("emoji"))
        meta["sticker"] = {k: sticker[k] for k in ("emoji", "set_name") if isinstance(sticker.get(k), str)}
    location = dict_of(dict_of(msg.get("venue")).get("location")) or dict_of(msg.get("location"))
    if "latitude" in location and "longitude" in location:
        venue = dict_of(msg.get("venue"))
        text = text or location_text(
            location["latitude"],
            location["longitude"],
            name=optional_text(venue.get("title")),
            address=optional_text(venue.get("address")),
        )
        meta["location"] = {"latitude": location["latitude"], "longitude": location["longitude"]}
    contact = dict_of(msg.get("contact"))
    if contact.get("phone_number"):
        phone = optional_text(contact.get("phone_number"))
        text = text or " ".join(p for p in (optional_text(contact.get("first_name")), phone) if p)
        meta["contact"] = {k: v for k, v in contact.items() if isinstance(v, str | int)}
        # Sharing one's own contact is Telegram-verified: it links the chat to that phone
        # number, so SMS, voice and WhatsApp from it are the same customer.
        if contact.get("user_id") is not None and contact.get("user_id") == sender.get("id"):
            with contextlib.suppress(InvalidIdentity):
                extra.append(make_identity(IdentityKind.PHONE, phone.lstrip("+"), default_region=None))
    reply = dict_of(msg.get("reply_to_message"))
    if reply.get("message_id") is not None:
        meta["reply_to"] = str(reply["message_id"])
    return text, attachments, meta, extra


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _attachment(media: dict[str, Any], default_type: str) -> Attachment:
    size = media.get("file_size")
    return Attachment(
        media_id=str(media["file_id"]),
        content_type=optional_text(media.get("mime_type")) or default_type,
        name=optional_text(media.get("file_name")) or None,
        size=size if isinstance(size, int) and size >= 0 else None,
    )


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
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            raise RequestRejected(401, "unsigned", f"{SECRET_HEADER} is missing")
        if not hmac.compare_digest(given.encode(), self._secret_token.encode()):
            raise RequestRejected(403, "bad_secret", f"{SECRET_HEADER} does not match")
        message = parse(parse_json_body(await request.read()), endpoint=self.bot_id)
        if message is None:
            return web.json_response({"ignored": True})
        result = await self.sink.accept(message)
        return web.json_response({"ignored": False, "duplicate": result.duplicate})

    def _redact(self, text: str) -> str:
        return text.replace(self._bot_token, "<bot token>")

    async def send(self, request: OutboundRequest) -> SendResult:
        http = self.http
        assert http is not None, "send() before start()"
        if request.recipient.kind is not IdentityKind.TELEGRAM:
            return SendResult(ok=False, retryable=False, error="the customer has no telegram chat on this conversation")
        text = text_with_links(request.message)
        if not text.strip():
            return SendResult(ok=False, retryable=False, error="nothing to send: no text or attachment link")
        chat_id = request.recipient.value
        url = f"{self.api_base_url}/bot{self._bot_token}/sendMessage"

        async def post(part: str) -> SendResult:
            _, body, failure = await send_http(http, "POST", url, json={"chat_id": chat_id, "text": part})
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
