"""WhatsApp through Twilio: a message on the SMS webhook from a ``whatsapp:+…`` sender.

The customer is a ``phone`` identity in E.164, like a WhatsApp Cloud API customer (and
like the same number by SMS or voice): one person, one contact. The conversation is on
channel ``whatsapp``, its endpoint our WhatsApp sender as Twilio names it
(``whatsapp:+14155238886``), which is how replies find their way back through Twilio.

Twilio's WhatsApp fields beside the SMS ones: ``ProfileName`` and ``WaId`` (who),
``ButtonText`` / ``ButtonPayload`` (a quick-reply or template button), ``ListId`` /
``ListTitle`` (a list-picker row), ``Latitude`` / ``Longitude`` / ``Address`` / ``Label``
(a shared place), ``OriginalRepliedMessageSid`` (the message answered), ``Forwarded``,
and ``Referral*`` (a click-to-WhatsApp ad). ``MessageType`` names the kind.
"""

from __future__ import annotations

from typing import Any

from gateway.channels.fields import location_text
from gateway.channels.kinds import attachment_lines, unknown_line
from gateway.channels.twilio.verify import Fields
from gateway.model import Attachment

PREFIX = "whatsapp:"
REFERRAL_FIELDS = ("Body", "Headline", "SourceId", "SourceType", "SourceUrl", "MediaUrl", "CtwaClid")


def _get(fields: Fields, name: str) -> str:
    return (fields.get(name) or "").strip()


def whatsapp_content(fields: Fields, body: str, attachments: list[Attachment]) -> tuple[str, dict[str, Any]]:
    """(text, meta) of a WhatsApp message as Twilio delivered it."""
    meta: dict[str, Any] = {"type": _get(fields, "MessageType") or "text"}
    lines = [body] if body.strip() else []
    choice = _get(fields, "ButtonText") or _get(fields, "ListTitle")
    if choice and choice != body.strip():
        lines.append(choice)
    if _get(fields, "ButtonPayload") or choice:
        meta["button"] = {"text": choice, "payload": _get(fields, "ButtonPayload"), "list_id": _get(fields, "ListId")}
    latitude, longitude = _get(fields, "Latitude"), _get(fields, "Longitude")
    if latitude and longitude:
        lines.append(location_text(latitude, longitude, name=_get(fields, "Label"), address=_get(fields, "Address")))
        meta["location"] = {"latitude": latitude, "longitude": longitude, "label": _get(fields, "Label")}
    if not lines and attachments:
        lines = [attachment_lines(attachments)]
    if not lines:
        lines = [unknown_line("WhatsApp", meta["type"])]
    for name, key in (("OriginalRepliedMessageSid", "reply_to"), ("WaId", "wa_id"), ("ProfileName", "profile_name")):
        if _get(fields, name):
            meta[key] = _get(fields, name)
    if _get(fields, "Forwarded").lower() == "true" or _get(fields, "FrequentlyForwarded").lower() == "true":
        meta["forwarded"] = True
    referral = {key: _get(fields, "Referral" + key) for key in REFERRAL_FIELDS if _get(fields, "Referral" + key)}
    if referral:
        meta["referral"] = referral
    return "\n".join(lines), meta
