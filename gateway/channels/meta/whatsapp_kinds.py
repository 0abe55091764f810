"""What each kind of WhatsApp Cloud API message says, as text an agent reads.

One reader per ``type`` (text, the media kinds and the older ``voice``, location,
contacts, interactive replies, template buttons, reactions, orders, system notices,
``request_welcome``, unsupported). A type not listed here is kept with a placeholder
naming it (``kinds.unknown_line``). Edits and revocations are not messages of their own:
``whatsapp_parse`` turns them into amendments of the message they change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.channels.fields import Content, dict_of, list_of, location_text, optional_text, text_of
from gateway.channels.kinds import media_line, unknown_line
from gateway.errors import RequestRejected, parse_json_body
from gateway.model import Attachment

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker", "voice")
DEFAULT_MIME = {
    "image": "image/jpeg",
    "audio": "audio/ogg",
    "voice": "audio/ogg",
    "video": "video/mp4",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}

Reader = Callable[[dict[str, Any], str], Content]


def read_content(m: dict[str, Any], kind: str) -> Content:
    return READERS.get(kind, _unknown)(m, kind)


def _text(m: dict[str, Any], kind: str) -> Content:
    return Content(text=optional_text(dict_of(m.get("text")).get("body")))


def _media(m: dict[str, Any], kind: str) -> Content:
    media = dict_of(m.get(kind))
    name = optional_text(media.get("filename")) or None
    voice = kind == "voice" or (kind == "audio" and bool(media.get("voice")))
    label = "voice" if voice else kind
    content = Content(text=optional_text(media.get("caption")) or media_line(label, name))
    content.attachments.append(
        Attachment(
            media_id=text_of(media.get("id"), f"{kind}.id"),
            content_type=optional_text(media.get("mime_type")) or DEFAULT_MIME[kind],
            name=name,
        )
    )
    if voice:
        content.meta["voice"] = True
    if kind == "sticker" and media.get("animated"):
        content.meta["animated"] = True
    return content


def _location(m: dict[str, Any], kind: str) -> Content:
    loc = dict_of(m.get("location"))
    name, address = optional_text(loc.get("name")), optional_text(loc.get("address"))
    lat, lon = loc.get("latitude"), loc.get("longitude")
    if lat is None or lon is None:
        text = "📍 " + ", ".join(p for p in (name, address) if p) if name or address else "[location]"
    else:
        text = location_text(lat, lon, name=name, address=address)
    where = {k: v for k, v in loc.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    return Content(text=text, meta={"location": where})


def _contacts(m: dict[str, Any], kind: str) -> Content:
    cards = [dict_of(c) for c in list_of(m.get("contacts"))]
    lines = [_contact_line(c) for c in cards]
    return Content(text="\n".join(f"👤 {line}" for line in lines if line) or "[contact card]", meta={"contacts": cards})


def _contact_line(card: dict[str, Any]) -> str:
    name = optional_text(dict_of(card.get("name")).get("formatted_name"))
    phones = [optional_text(dict_of(p).get("phone")) for p in list_of(card.get("phones"))]
    emails = [optional_text(dict_of(e).get("email")) for e in list_of(card.get("emails"))]
    return " ".join(p for p in [name, *phones, *emails] if p)


def _interactive(m: dict[str, Any], kind: str) -> Content:
    """A tap on a reply button or list row we sent, a filled-in form (Flows), or an
    answer to a call-permission request."""
    interactive = dict_of(m.get("interactive"))
    choice_type = optional_text(interactive.get("type"))
    choice = dict_of(interactive.get(choice_type))
    strings = {k: v for k, v in choice.items() if isinstance(v, str)}
    meta: dict[str, Any] = {"interactive": {"type": choice_type, **strings}}
    if choice_type == "nfm_reply":
        return Content(text=_form_text(choice), meta=meta)
    if choice_type == "call_permission_reply":
        return Content(text=f"[call permission: {optional_text(choice.get('response')) or 'answered'}]", meta=meta)
    title = optional_text(choice.get("title")) or optional_text(choice.get("body"))
    description = optional_text(choice.get("description"))
    text = "\n".join(p for p in (title, description) if p)
    return Content(text=text or f"[{choice_type or 'interactive'} reply]", meta=meta)


def _form_text(reply: dict[str, Any]) -> str:
    """A WhatsApp Flow's answers (``response_json``) as ``name: value`` lines."""
    lines = [optional_text(reply.get("body")) or "[form reply]"]
    try:
        answers = parse_json_body(optional_text(reply.get("response_json")) or "{}", what="response_json")
    except RequestRejected:
        answers = {}
    for key, value in dict_of(answers).items():
        if key != "flow_token" and isinstance(value, str | int | float | bool):
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def _button(m: dict[str, Any], kind: str) -> Content:
    """A tap on a template's quick-reply button."""
    button = dict_of(m.get("button"))
    text = optional_text(button.get("text")) or optional_text(button.get("payload")) or "[button]"
    return Content(text=text, meta={"button": {"text": text, "payload": optional_text(button.get("payload"))}})


def _reaction(m: dict[str, Any], kind: str) -> Content:
    """Stored, never routed: a thumbs-up is no work for an agent. An empty emoji is
    Meta's "reaction removed"."""
    reaction = dict_of(m.get("reaction"))
    emoji = optional_text(reaction.get("emoji"))
    return Content(
        text=emoji or "[reaction removed]",
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
    notice = optional_text(system.get("body")) or f"[WhatsApp notice: {optional_text(system.get('type')) or 'system'}]"
    return Content(
        text=notice,
        meta={"system": {k: v for k, v in system.items() if isinstance(v, str)}},
        flags=["system"],
        route=False,
    )


def _order(m: dict[str, Any], kind: str) -> Content:
    """A cart sent from the catalog. The text names how many of what price; the catalog
    and product ids stay in ``meta.order`` (provider ids, not customer text)."""
    order = dict_of(m.get("order"))
    items = [dict_of(i) for i in list_of(order.get("product_items"))]
    count = sum(_number(i.get("quantity"), 1) for i in items)
    currencies = {optional_text(i.get("currency")) for i in items} - {""}
    total = sum(_number(i.get("item_price"), 0) * _number(i.get("quantity"), 1) for i in items)
    summary = f"🛒 Order: {int(count)} item{'s' if count != 1 else ''}"
    if items and len(currencies) == 1:
        summary += f", total {total:.2f} {currencies.pop()}"
    note = optional_text(order.get("text"))
    return Content(text="\n".join(p for p in (summary, note) if p), meta={"order": order})


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _request_welcome(m: dict[str, Any], kind: str) -> Content:
    """The customer opened the chat for the first time and has written nothing yet: kept
    (it opens the messaging window) but no work for an agent."""
    return Content(text="[opened the chat]", flags=["event"], route=False)


def _unsupported(m: dict[str, Any], kind: str) -> Content:
    """Meta could not pass the message on (a poll, a view-once photo …): what Meta says
    about it, so an agent can ask the customer to send it another way."""
    errors = [dict_of(e) for e in list_of(m.get("errors"))]
    described = [
        optional_text(dict_of(e.get("error_data")).get("details")) or optional_text(e.get("title")) for e in errors
    ]
    detail = "; ".join(d for d in described if d)
    inner = optional_text(dict_of(m.get("unsupported")).get("type"))
    text = f"[unsupported WhatsApp message{': ' + inner if inner else ''}{' — ' + detail if detail else ''}]"
    return Content(text=text, flags=["unsupported"], meta={"unsupported": {"type": inner or kind, "errors": errors}})


def _unknown(m: dict[str, Any], kind: str) -> Content:
    return Content(text=unknown_line("WhatsApp", kind), flags=["unsupported"], meta={"unsupported": {"type": kind}})


READERS: dict[str, Reader] = {
    "text": _text,
    **dict.fromkeys(MEDIA_TYPES, _media),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "system": _system,
    "order": _order,
    "request_welcome": _request_welcome,
    "unsupported": _unsupported,
    "unknown": _unsupported,
}
