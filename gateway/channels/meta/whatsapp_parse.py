"""WhatsApp Cloud API webhooks (``object: whatsapp_business_account``) → messages and
delivery statuses. Pure: bytes already verified, nothing stored here.

``entry[].changes[].value`` carries ``metadata.phone_number_id`` (our number: the
conversation endpoint), ``contacts[]`` (profile names by ``wa_id``), ``messages[]`` and
``statuses[]``. The sender's ``from`` is a phone number without ``+``; it becomes a
``phone`` identity in E.164, so WhatsApp, SMS and voice from one number are one contact.

Reactions are stored as messages (the emoji as text, ``flags: ["reaction"]``,
``meta.reaction = {message_id, emoji, action}``) that are not routed: a thumbs-up must
not create work for an agent. An empty emoji is Meta's "reaction removed" (``action:
"unreact"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.channels.fields import (
    BadEvent,
    Content,
    dict_of,
    from_epoch,
    list_of,
    location_text,
    optional_text,
    text_of,
)
from gateway.channels.meta.batch import Batch, entries
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import (
    Attachment,
    Channel,
    DeliveryStatus,
    IdentityKind,
    InboundMessage,
    StatusUpdate,
)

OBJECT = "whatsapp_business_account"
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
DEFAULT_MIME = {
    "image": "image/jpeg",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}
STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


def parse_whatsapp(data: Any) -> Batch:
    batch = Batch()
    for entry in entries(data, OBJECT):
        for change in list_of(entry.get("changes")):
            change = dict_of(change)
            if change.get("field", "messages") != "messages":
                batch.skipped += 1  # account, template and quality updates: not conversations
                continue
            _value(dict_of(change.get("value")), batch)
    return batch


def _value(value: dict[str, Any], batch: Batch) -> None:
    endpoint = optional_text(dict_of(value.get("metadata")).get("phone_number_id"))
    names = {}
    for contact in list_of(value.get("contacts")):
        contact = dict_of(contact)
        wa_id = contact.get("wa_id")
        name = optional_text(dict_of(contact.get("profile")).get("name"))
        if isinstance(wa_id, str) and name:
            names[wa_id] = name
    for raw in list_of(value.get("messages")):
        try:
            batch.events.append(_message(dict_of(raw), endpoint, names))
        except (BadEvent, InvalidIdentity, KeyError, TypeError, ValueError) as exc:
            batch.problems.append(f"message {dict_of(raw).get('id')!r}: {exc}")
    for raw in list_of(value.get("statuses")):
        try:
            update = _status(dict_of(raw))
        except (BadEvent, KeyError, TypeError, ValueError) as exc:
            batch.problems.append(f"status {dict_of(raw).get('id')!r}: {exc}")
            continue
        if update is None:
            batch.skipped += 1
        else:
            batch.events.append(update)


def _message(m: dict[str, Any], endpoint: str, names: dict[str, str]) -> InboundMessage:
    wamid = text_of(m.get("id"), "id")
    wa_id = text_of(m.get("from"), "from")
    # wa_id is E.164 without the plus: never read it with a default region.
    sender = make_identity(IdentityKind.PHONE, wa_id, default_region=None)
    kind = optional_text(m.get("type")) or "unknown"
    content = CONTENT_READERS.get(kind, _unsupported)(m, kind)
    _context(m, content.meta)
    return InboundMessage(
        channel=Channel.WHATSAPP,
        external_id=wamid,
        endpoint=endpoint,
        sender=sender,
        sender_name=names.get(wa_id),
        text=content.text,
        attachments=content.attachments,
        provider_ts=from_epoch(m.get("timestamp")),
        flags=content.flags,
        route=content.route,
        meta={"type": kind, **content.meta},
    )


def _text(m: dict[str, Any], kind: str) -> Content:
    return Content(text=optional_text(dict_of(m.get("text")).get("body")))


def _media(m: dict[str, Any], kind: str) -> Content:
    media = dict_of(m.get(kind))
    content = Content(text=optional_text(media.get("caption")))
    content.attachments.append(
        Attachment(
            media_id=text_of(media.get("id"), f"{kind}.id"),
            content_type=optional_text(media.get("mime_type")) or DEFAULT_MIME[kind],
            name=optional_text(media.get("filename")) or None,
        )
    )
    if kind == "audio" and media.get("voice"):
        content.meta["voice"] = True
    if kind == "sticker" and media.get("animated"):
        content.meta["animated"] = True
    return content


def _location(m: dict[str, Any], kind: str) -> Content:
    loc = dict_of(m.get("location"))
    if "latitude" not in loc or "longitude" not in loc:
        raise BadEvent("location without coordinates")
    name, address = optional_text(loc.get("name")), optional_text(loc.get("address"))
    where = {
        "latitude": loc["latitude"],
        "longitude": loc["longitude"],
        **({"name": name} if name else {}),
        **({"address": address} if address else {}),
        **({"url": loc["url"]} if isinstance(loc.get("url"), str) else {}),
    }
    text = location_text(loc["latitude"], loc["longitude"], name=name, address=address)
    return Content(text=text, meta={"location": where})


def _contacts(m: dict[str, Any], kind: str) -> Content:
    cards = [dict_of(c) for c in list_of(m.get("contacts"))]
    return Content(text="\n".join(_contact_line(c) for c in cards), meta={"contacts": cards})


def _interactive(m: dict[str, Any], kind: str) -> Content:
    """A tap on a reply button or list row we sent: its title is the text."""
    interactive = dict_of(m.get("interactive"))
    choice_type = optional_text(interactive.get("type"))
    choice = dict_of(interactive.get(choice_type))
    return Content(
        text=optional_text(choice.get("title")) or optional_text(choice.get("body")),
        meta={"interactive": {"type": choice_type, **{k: v for k, v in choice.items() if isinstance(v, str)}}},
    )


def _button(m: dict[str, Any], kind: str) -> Content:
    """A tap on a template's quick-reply button."""
    button = dict_of(m.get("button"))
    text = optional_text(button.get("text"))
    return Content(text=text, meta={"button": {"text": text, "payload": optional_text(button.get("payload"))}})


def _reaction(m: dict[str, Any], kind: str) -> Content:
    """Stored, never routed; an empty emoji is Meta's "reaction removed"."""
    reaction = dict_of(m.get("reaction"))
    emoji = optional_text(reaction.get("emoji"))
    return Content(
        text=emoji,
        meta={
            "reaction": {
                "message_id": text_of(reaction.get("message_id"), "reaction.message_id"),
                "emoji": emoji,
                "action": "react" if emoji else "unreact",
            }
        },
        flags=["reaction"],
        route=False,
    )


def _system(m: dict[str, Any], kind: str) -> Content:
    """WhatsApp's own notices (the customer changed their number): kept, not routed."""
    system = dict_of(m.get("system"))
    return Content(
        text=optional_text(system.get("body")),
        meta={"system": {k: v for k, v in system.items() if isinstance(v, str)}},
        flags=["system"],
        route=False,
    )


def _order(m: dict[str, Any], kind: str) -> Content:
    order = dict_of(m.get("order"))
    return Content(text=optional_text(order.get("text")), meta={"order": order})


def _unsupported(m: dict[str, Any], kind: str) -> Content:
    """unsupported / unknown: keep what Meta says about it so an agent can ask again."""
    return Content(flags=["unsupported"], meta={"unsupported": {"type": kind, "errors": list_of(m.get("errors"))}})


CONTENT_READERS: dict[str, Callable[[dict[str, Any], str], Content]] = {
    "text": _text,
    **dict.fromkeys(MEDIA_TYPES, _media),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "system": _system,
    "order": _order,
}


def _context(m: dict[str, Any], meta: dict[str, Any]) -> None:
    """What any kind may carry besides: the message it replies to, forwarding, an ad referral."""
    context = dict_of(m.get("context"))
    if isinstance(context.get("id"), str):
        meta["reply_to"] = context["id"]
    if context.get("forwarded") or context.get("frequently_forwarded"):
        meta["forwarded"] = True
    if isinstance(m.get("referral"), dict):
        meta["referral"] = m["referral"]


def _contact_line(card: dict[str, Any]) -> str:
    name = optional_text(dict_of(card.get("name")).get("formatted_name"))
    phones = [optional_text(dict_of(p).get("phone")) for p in list_of(card.get("phones"))]
    return " ".join(p for p in [name, *phones] if p)


def _status(s: dict[str, Any]) -> StatusUpdate | None:
    """A delivery report for one of our sends; ``None`` for states we do not track."""
    status = STATUSES.get(optional_text(s.get("status")))
    if status is None:
        return None
    error = None
    if status is DeliveryStatus.FAILED:
        error = _error_text(list_of(s.get("errors"))) or "failed (no reason given)"
    return StatusUpdate(
        channel=Channel.WHATSAPP,
        external_id=text_of(s.get("id"), "id"),
        status=status,
        error=error,
        at=from_epoch(s.get("timestamp")),
    )


def _error_text(errors: list[Any]) -> str:
    """``131047 Re-engagement message: <details>`` for each error Meta lists."""
    described = []
    for raw in errors:
        err = dict_of(raw)
        head = " ".join(str(p) for p in (err.get("code"), err.get("title")) if p not in (None, ""))
        details = optional_text(dict_of(err.get("error_data")).get("details")) or optional_text(err.get("message"))
        if details and details != err.get("title"):
            head = f"{head}: {details}" if head else details
        if head:
            described.append(head)
    return "; ".join(described)
