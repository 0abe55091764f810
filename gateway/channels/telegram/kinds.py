"""What a Telegram message says, as text an agent reads.

Every content field the Bot API documents for a ``Message`` is either read here — text;
photo, document, audio, voice, video, video note, animation, sticker and paid media
(attachments carrying Telegram's ``file_id``, the caption or a ``[photo]``-style line);
contact, location, venue, dice, poll, checklist, game, invoice, payments, shared users
and chats, ``web_app_data``, gifts, forwarded stories — or a service message listed in
``SERVICE`` (a support bot's private chat has nothing to act on in them: counted, not
stored). A message with none of these is kept with a placeholder naming its fields.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from gateway.channels.fields import BadEvent, Content, dict_of, list_of, location_text, optional_text
from gateway.channels.kinds import media_line, poll_line, unknown_line
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Attachment, IdentityKind

# (field, default MIME type) of the media a message may carry, one per message.
MEDIA = (
    ("document", "application/octet-stream"),
    ("voice", "audio/ogg"),
    ("audio", "audio/mpeg"),
    ("video", "video/mp4"),
    ("video_note", "video/mp4"),
    ("animation", "video/mp4"),
)
# Service messages: nothing for an agent in a private chat with the bot.
SERVICE = frozenset(
    {
        "write_access_allowed", "connected_website", "passport_data", "proximity_alert_triggered",
        "boost_added", "chat_background_set", "checklist_tasks_done", "checklist_tasks_added",
        "forum_topic_created", "forum_topic_edited", "forum_topic_closed", "forum_topic_reopened",
        "general_forum_topic_hidden", "general_forum_topic_unhidden", "giveaway_created", "giveaway",
        "giveaway_winners", "giveaway_completed", "paid_message_price_changed", "video_chat_scheduled",
        "video_chat_started", "video_chat_ended", "video_chat_participants_invited", "new_chat_members",
        "left_chat_member", "new_chat_title", "new_chat_photo", "delete_chat_photo", "group_chat_created",
        "supergroup_chat_created", "channel_chat_created", "message_auto_delete_timer_changed",
        "migrate_to_chat_id", "migrate_from_chat_id", "pinned_message", "direct_message_price_changed",
        "suggested_post_approved", "suggested_post_approval_failed", "suggested_post_declined",
        "suggested_post_paid", "suggested_post_refunded", "gift_upgrade_sent",
    }
)  # fmt: skip
# Fields every message may carry besides its content.
ENVELOPE = frozenset(
    {
        "message_id", "message_thread_id", "from", "sender_chat", "sender_boost_count", "sender_business_bot",
        "date", "business_connection_id", "chat", "forward_origin", "is_topic_message", "is_automatic_forward",
        "reply_to_message", "external_reply", "quote", "reply_to_story", "reply_to_checklist_task_id", "via_bot",
        "edit_date", "has_protected_content", "is_from_offline", "is_paid_post", "media_group_id",
        "author_signature", "paid_star_count", "text", "entities", "caption", "caption_entities",
        "show_caption_above_media", "has_media_spoiler", "link_preview_options", "effect_id", "reply_markup",
        "forward_from", "forward_from_chat", "forward_date", "forward_sender_name", "forward_signature",
        "forward_from_message_id", "direct_messages_topic", "suggested_post_info", "sender_tag",
    }
)  # fmt: skip
# Currencies without minor units (Telegram amounts are in the smallest unit).
NO_MINOR_UNITS = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XTR"})


def service_kind(msg: dict[str, Any]) -> str | None:
    """The service field of a service message, else None."""
    return next((key for key in msg if key in SERVICE), None)


def message_content(msg: dict[str, Any], sender: dict[str, Any]) -> Content:
    """The text, attachments and meta of one message; a placeholder when nothing known."""
    written = optional_text(msg.get("text")) or optional_text(msg.get("caption"))
    content = Content(text=written)
    content.meta["message_id"] = msg.get("message_id")
    if sender.get("username"):
        content.meta["username"] = sender["username"]
    lines = [line for read in READERS if (line := read(msg, content))]
    if not content.text.strip():
        content.text = "\n".join(lines)
    if not content.text.strip():
        unknown = [key for key in msg if key not in ENVELOPE]
        content.text = unknown_line("Telegram", ", ".join(unknown) or "empty")
        content.flags.append("unsupported")
    _contact_identity(msg, sender, content)
    reply = dict_of(msg.get("reply_to_message"))
    if reply.get("message_id") is not None:
        content.meta["reply_to"] = str(reply["message_id"])
    if isinstance(msg.get("forward_origin"), dict):
        content.meta["forwarded"] = True
    return content


def _photo(msg: dict[str, Any], content: Content) -> str:
    """A photo comes in several sizes: the largest is kept."""
    photos = [dict_of(p) for p in list_of(msg.get("photo")) if isinstance(p, dict) and p.get("file_id")]
    if not photos:
        return ""
    largest = max(photos, key=lambda p: (_int(p.get("width")) * _int(p.get("height")), _int(p.get("file_size"))))
    content.attachments.append(_attachment(largest, "image/jpeg"))
    return media_line("photo")


def _media(msg: dict[str, Any], content: Content) -> str:
    for name, default in MEDIA:
        media = msg.get(name)
        if isinstance(media, dict):
            if not media.get("file_id"):
                raise BadEvent(f"{name}.file_id is missing")
            content.attachments.append(_attachment(media, default))
            if name == "voice":
                content.meta["voice"] = True
            return media_line(name, optional_text(media.get("file_name")) or None)
    return ""


def _sticker(msg: dict[str, Any], content: Content) -> str:
    sticker = dict_of(msg.get("sticker"))
    if not sticker.get("file_id"):
        return ""
    kind = "video/webm" if sticker.get("is_video") else "application/x-tgsticker" if sticker.get("is_animated") else ""
    content.attachments.append(_attachment(sticker, kind or "image/webp"))
    content.meta["sticker"] = {k: sticker[k] for k in ("emoji", "set_name") if isinstance(sticker.get(k), str)}
    return optional_text(sticker.get("emoji")) or media_line("sticker")


def _paid_media(msg: dict[str, Any], content: Content) -> str:
    paid = dict_of(msg.get("paid_media"))
    return f"[paid media: {paid.get('star_count', '?')} stars]" if paid else ""


def _story(msg: dict[str, Any], content: Content) -> str:
    return "[forwarded story]" if isinstance(msg.get("story"), dict) else ""


def _location(msg: dict[str, Any], content: Content) -> str:
    venue = dict_of(msg.get("venue"))
    location = dict_of(venue.get("location")) or dict_of(msg.get("location"))
    if "latitude" not in location or "longitude" not in location:
        return ""
    content.meta["location"] = {"latitude": location["latitude"], "longitude": location["longitude"]}
    name, address = optional_text(venue.get("title")), optional_text(venue.get("address"))
    return location_text(location["latitude"], location["longitude"], name=name, address=address)


def _contact(msg: dict[str, Any], content: Content) -> str:
    contact = dict_of(msg.get("contact"))
    if not contact.get("phone_number"):
        return ""
    content.meta["contact"] = {k: v for k, v in contact.items() if isinstance(v, str | int)}
    names = " ".join(optional_text(contact.get(k)) for k in ("first_name", "last_name") if contact.get(k))
    return "👤 " + " ".join(p for p in (names, optional_text(contact.get("phone_number"))) if p)


def _dice(msg: dict[str, Any], content: Content) -> str:
    dice = dict_of(msg.get("dice"))
    if not dice:
        return ""
    content.meta["dice"] = dice
    return f"{optional_text(dice.get('emoji')) or '🎲'} rolled {dice.get('value', '?')}"


def _poll(msg: dict[str, Any], content: Content) -> str:
    poll = dict_of(msg.get("poll"))
    if not poll:
        return ""
    options = [optional_text(dict_of(o).get("text")) for o in list_of(poll.get("options"))]
    content.meta["poll"] = {"id": poll.get("id"), "type": poll.get("type")}
    return poll_line(optional_text(poll.get("question")), options)


def _checklist(msg: dict[str, Any], content: Content) -> str:
    checklist = dict_of(msg.get("checklist"))
    if not checklist:
        return ""
    tasks = [optional_text(dict_of(t).get("text")) for t in list_of(checklist.get("tasks"))]
    return "\n".join([f"☑ {optional_text(checklist.get('title'))}", *(f"- {t}" for t in tasks)])


def _game(msg: dict[str, Any], content: Content) -> str:
    game = dict_of(msg.get("game"))
    return f"[game: {optional_text(game.get('title'))}]" if game else ""


def _money(amount: Any, currency: str) -> str:
    if not isinstance(amount, int) or isinstance(amount, bool):
        return f"{amount} {currency}"
    return f"{amount} {currency}" if currency in NO_MINOR_UNITS else f"{amount / 100:.2f} {currency}"


def _payments(msg: dict[str, Any], content: Content) -> str:
    """An invoice shared, a payment made or refunded through the bot."""
    invoice = dict_of(msg.get("invoice"))
    if invoice:
        money = _money(invoice.get("total_amount"), optional_text(invoice.get("currency")))
        return f"🧾 invoice: {optional_text(invoice.get('title'))} — {money}"
    for field, verb in (("successful_payment", "paid"), ("refunded_payment", "refunded")):
        payment = dict_of(msg.get(field))
        if payment:
            content.meta[field] = {k: v for k, v in payment.items() if isinstance(v, str | int)}
            money = _money(payment.get("total_amount"), optional_text(payment.get("currency")))
            return f"💳 {verb} {money} ({optional_text(payment.get('invoice_payload'))})"
    return ""


def _shared(msg: dict[str, Any], content: Content) -> str:
    """Users or a chat picked with a keyboard button we sent."""
    users = dict_of(msg.get("users_shared"))
    if users:
        shown = [
            " ".join(p for p in (optional_text(u.get("first_name")), optional_text(u.get("username"))) if p)
            or str(u.get("user_id"))
            for u in map(dict_of, list_of(users.get("users")))
        ]
        return "[shared users: " + ", ".join(shown) + "]"
    chat = dict_of(msg.get("chat_shared"))
    if chat:
        return f"[shared a chat: {optional_text(chat.get('title')) or chat.get('chat_id')}]"
    return ""


def _web_app(msg: dict[str, Any], content: Content) -> str:
    """Data a Mini App sent from a keyboard button."""
    data = dict_of(msg.get("web_app_data"))
    if not data:
        return ""
    content.meta["web_app_data"] = data
    return f"[{optional_text(data.get('button_text')) or 'web app'}] {optional_text(data.get('data'))}".rstrip()


def _gift(msg: dict[str, Any], content: Content) -> str:
    gift = dict_of(msg.get("gift")) or dict_of(msg.get("unique_gift"))
    if not gift:
        return ""
    note = optional_text(gift.get("text"))
    return "🎁 gift" + (f": {note}" if note else "")


READERS: tuple[Callable[[dict[str, Any], Content], str], ...] = (
    _photo, _media, _sticker, _paid_media, _story, _location, _contact, _dice, _poll, _checklist,
    _game, _payments, _shared, _web_app, _gift,
)  # fmt: skip


def _contact_identity(msg: dict[str, Any], sender: dict[str, Any], content: Content) -> None:
    """Sharing one's own contact is Telegram-verified: it links the chat to that phone
    number, so SMS, voice and WhatsApp from it are the same customer."""
    contact = dict_of(msg.get("contact"))
    phone = optional_text(contact.get("phone_number"))
    if phone and contact.get("user_id") is not None and contact.get("user_id") == sender.get("id"):
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
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
    )
