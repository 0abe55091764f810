"""A Telegram Update → one ``InboundMessage``, or ``None`` for updates a support bot
ignores. Pure: the request is already verified, nothing is stored here.

Decisions (see docs/channels/telegram.md):

* A support bot talks to customers one to one: only private chats become messages.
  Group, supergroup and channel updates, bots, and update kinds that are not messages
  (callback queries, member changes, polls) are acknowledged and ignored.
* The identity is ``telegram:<chat.id>``; in a private chat that is the user's id, and it
  is where replies go (``sendMessage`` ``chat_id``).
* The dedupe key is ``update_id``. An edited message is stored as a new message flagged
  ``edited`` with ``meta.edited_message_id``, so the agent sees what changed.
* Media (photo — the largest size —, document, voice, audio, video, sticker…) become
  attachments carrying Telegram's ``file_id``; a caption is the text.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gateway.channels.fields import BadEvent, Content, dict_of, from_epoch, list_of, location_text, optional_text
from gateway.errors import RequestRejected
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Attachment, Channel, IdentityKind, InboundMessage

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


def parse_update(data: Any, *, endpoint: str) -> InboundMessage | None:
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
        content = _content(msg, sender)
    except BadEvent as exc:
        raise RequestRejected(422, "invalid", f"{kind}: {exc}") from None
    flags = []
    provider_ts = from_epoch(msg.get("date"))
    if kind == "edited_message":
        flags.append("edited")
        content.meta["edited_message_id"] = msg.get("message_id")
        provider_ts = from_epoch(msg.get("edit_date")) or provider_ts
    name = " ".join(p for p in (optional_text(sender.get("first_name")), optional_text(sender.get("last_name"))) if p)
    return InboundMessage(
        channel=Channel.TELEGRAM,
        external_id=str(update_id),
        endpoint=endpoint,
        sender=identity,
        sender_name=name or optional_text(sender.get("username")) or None,
        extra_identities=content.extra_identities,
        text=content.text,
        attachments=content.attachments,
        provider_ts=provider_ts,
        language_hint=optional_text(sender.get("language_code")) or None,
        flags=flags,
        meta=content.meta,
    )


def _content(msg: dict[str, Any], sender: dict[str, Any]) -> Content:
    content = Content(text=optional_text(msg.get("text")) or optional_text(msg.get("caption")))
    content.meta["message_id"] = msg.get("message_id")
    if sender.get("username"):
        content.meta["username"] = sender["username"]
    _photo(msg, content)
    _media(msg, content)
    _sticker(msg, content)
    _location(msg, content)
    _contact(msg, sender, content)
    reply = dict_of(msg.get("reply_to_message"))
    if reply.get("message_id") is not None:
        content.meta["reply_to"] = str(reply["message_id"])
    return content


def _photo(msg: dict[str, Any], content: Content) -> None:
    """A photo comes in several sizes: the largest is kept."""
    photos = [dict_of(p) for p in list_of(msg.get("photo")) if isinstance(p, dict) and p.get("file_id")]
    if photos:
        largest = max(photos, key=lambda p: (_int(p.get("width")) * _int(p.get("height")), _int(p.get("file_size"))))
        content.attachments.append(_attachment(largest, "image/jpeg"))


def _media(msg: dict[str, Any], content: Content) -> None:
    for name, default in MEDIA:
        media = msg.get(name)
        if isinstance(media, dict):
            if not media.get("file_id"):
                raise BadEvent(f"{name}.file_id is missing")
            content.attachments.append(_attachment(media, default))
            if name == "voice":
                content.meta["voice"] = True
            return


def _sticker(msg: dict[str, Any], content: Content) -> None:
    sticker = dict_of(msg.get("sticker"))
    if not sticker.get("file_id"):
        return
    sticker_type = (
        "video/webm"
        if sticker.get("is_video")
        else "application/x-tgsticker"
        if sticker.get("is_animated")
        else "image/webp"
    )
    content.attachments.append(_attachment(sticker, sticker_type))
    content.fallback_text(optional_text(sticker.get("emoji")))
    content.meta["sticker"] = {k: sticker[k] for k in ("emoji", "set_name") if isinstance(sticker.get(k), str)}


def _location(msg: dict[str, Any], content: Content) -> None:
    venue = dict_of(msg.get("venue"))
    location = dict_of(venue.get("location")) or dict_of(msg.get("location"))
    if "latitude" not in location or "longitude" not in location:
        return
    content.fallback_text(
        location_text(
            location["latitude"],
            location["longitude"],
            name=optional_text(venue.get("title")),
            address=optional_text(venue.get("address")),
        )
    )
    content.meta["location"] = {"latitude": location["latitude"], "longitude": location["longitude"]}


def _contact(msg: dict[str, Any], sender: dict[str, Any], content: Content) -> None:
    contact = dict_of(msg.get("contact"))
    if not contact.get("phone_number"):
        return
    phone = optional_text(contact.get("phone_number"))
    content.fallback_text(" ".join(p for p in (optional_text(contact.get("first_name")), phone) if p))
    content.meta["contact"] = {k: v for k, v in contact.items() if isinstance(v, str | int)}
    # Sharing one's own contact is Telegram-verified: it links the chat to that phone
    # number, so SMS, voice and WhatsApp from it are the same customer.
    if contact.get("user_id") is not None and contact.get("user_id") == sender.get("id"):
        with contextlib.suppress(InvalidIdentity):
            content.extra_identities.append(make_identity(IdentityKind.PHONE, phone.lstrip("+"), default_region=None))


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
