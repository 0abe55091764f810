"""WhatsApp Cloud API webhooks (``object: whatsapp_business_account``) → messages,
amendments and delivery statuses. Pure: bytes already verified, nothing stored here.

``entry[].changes[].value`` carries ``metadata.phone_number_id`` (our number: the
conversation endpoint), ``contacts[]`` (profile names by ``wa_id`` / ``user_id``),
``messages[]`` and ``statuses[]``.

Who wrote: ``from`` is a phone number without ``+`` and becomes a ``phone`` identity in
E.164, so WhatsApp, SMS and voice from one number are one contact. A customer who chose
a WhatsApp username may come with only a business-scoped user id (``from_user_id``, or a
``from`` such as ``US.13491208655302741918``): a ``whatsapp`` identity of its own, linked
to the phone whenever both arrive together. A message in a group (``group_id``) belongs
to the group's conversation — the contact is the group (``whatsapp:group:<id>``), replies
go to the group, and each line names the member who wrote it.

What it says: see ``whatsapp_kinds``. An ``edit`` changes the message it names (the new
text or caption), a ``revoke`` marks it deleted; both are amendments, never new
messages. Other ``field``s of the webhook (account, template and quality updates, echoes
of messages the business sent from the WhatsApp Business app) are not conversations:
ignored and counted.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.channels.fields import BadEvent, dict_of, from_epoch, list_of, optional_text, text_of
from gateway.channels.meta.batch import Batch, entries
from gateway.channels.meta.whatsapp_kinds import read_content
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import (
    Amendment,
    Channel,
    DeliveryStatus,
    Identity,
    IdentityKind,
    InboundMessage,
    StatusUpdate,
)

OBJECT = "whatsapp_business_account"
STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}
# A business-scoped user id: country code, a dot, [ENT.] and up to 128 letters and digits.
BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
GROUP_PREFIX = "group:"


def parse_whatsapp(data: Any) -> Batch:
    batch = Batch()
    for entry in entries(data, OBJECT):
        for change in list_of(entry.get("changes")):
            change = dict_of(change)
            field = optional_text(change.get("field")) or "messages"
            if field != "messages":
                batch.ignored.append(field)  # account, template and quality updates, echoes
                continue
            _value(dict_of(change.get("value")), batch)
    return batch


def _value(value: dict[str, Any], batch: Batch) -> None:
    endpoint = optional_text(dict_of(value.get("metadata")).get("phone_number_id"))
    profiles = _profiles(value)
    for raw in list_of(value.get("messages")):
        try:
            batch.events.append(_message(dict_of(raw), endpoint, profiles))
        except (BadEvent, InvalidIdentity, KeyError, TypeError, ValueError) as exc:
            batch.problems.append(f"message {dict_of(raw).get('id')!r}: {exc}")
    for raw in list_of(value.get("statuses")):
        try:
            update = _status(dict_of(raw))
        except (BadEvent, KeyError, TypeError, ValueError) as exc:
            batch.problems.append(f"status {dict_of(raw).get('id')!r}: {exc}")
            continue
        if update is None:
            batch.ignored.append(f"status_{optional_text(dict_of(raw).get('status')) or 'unknown'}")
        else:
            batch.events.append(update)


def _profiles(value: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``contacts[]`` by every id they carry (``wa_id``, ``user_id``): name, username."""
    found: dict[str, dict[str, str]] = {}
    for contact in list_of(value.get("contacts")):
        contact = dict_of(contact)
        profile = dict_of(contact.get("profile"))
        info = {
            "name": optional_text(profile.get("name")),
            "username": optional_text(profile.get("username")) or optional_text(contact.get("username")),
            "user_id": optional_text(contact.get("user_id")),
            "wa_id": optional_text(contact.get("wa_id")),
        }
        for key in (info["wa_id"], info["user_id"]):
            if key:
                found[key] = info
    return found


class Sender:
    """Who wrote a message: the identity its conversation belongs to, the others that
    name the same person, and how to show them."""

    def __init__(self, m: dict[str, Any], profiles: dict[str, dict[str, str]]) -> None:
        raw_from = optional_text(m.get("from")) or (str(m["from"]) if isinstance(m.get("from"), int) else "")
        user_id = optional_text(m.get("from_user_id"))
        phone = ""
        if BSUID.match(raw_from):
            user_id = user_id or raw_from
        else:
            phone = raw_from
        profile = profiles.get(phone) or profiles.get(user_id) or {}
        phone = phone or profile.get("wa_id", "")
        user_id = user_id or profile.get("user_id", "")
        self.identities: list[Identity] = []
        if phone:
            # wa_id is E.164 without the plus: never read it with a default region.
            self.identities.append(make_identity(IdentityKind.PHONE, phone, default_region=None))
        if user_id:
            self.identities.append(make_identity(IdentityKind.WHATSAPP, user_id))
        if not self.identities:
            raise BadEvent("from: neither a phone number nor a user id")
        self.username = profile.get("username", "")
        self.name = profile.get("name") or self.username
        self.shown = self.name or (self.identities[0].value if phone else profile.get("username", "") or user_id)


def _message(m: dict[str, Any], endpoint: str, profiles: dict[str, dict[str, str]]) -> InboundMessage | Amendment:
    wamid = text_of(m.get("id"), "id")
    sender = Sender(m, profiles)
    kind = optional_text(m.get("type")) or "unknown"
    group = optional_text(m.get("group_id"))
    if kind in ("edit", "revoke"):
        return _amendment(m, kind, wamid, sender, endpoint, group)
    content = read_content(m, kind)
    meta: dict[str, Any] = {"type": kind, **content.meta}
    _context(m, meta)
    identity, extra, name, text = sender.identities[0], sender.identities[1:], sender.name or None, content.text
    if group:
        identity, extra, name = make_identity(IdentityKind.WHATSAPP, GROUP_PREFIX + group), [], None
        meta["group"] = {"id": group, "from": sender.identities[0].key, "name": sender.name}
        text = f"{sender.shown}: {text}"
    if sender.username:
        meta["username"] = sender.username
    return InboundMessage(
        channel=Channel.WHATSAPP,
        external_id=wamid,
        endpoint=endpoint,
        sender=identity,
        sender_name=name,
        extra_identities=extra,
        text=text,
        attachments=content.attachments,
        provider_ts=from_epoch(m.get("timestamp")),
        flags=content.flags,
        route=content.route,
        meta=meta,
    )


def _amendment(m: dict[str, Any], kind: str, wamid: str, sender: Sender, endpoint: str, group: str) -> Amendment:
    """``edit``: the new text or caption of the message it names; ``revoke``: that message
    deleted by the customer."""
    change = dict_of(m.get(kind))
    target = text_of(
        change.get("original_message_id") or dict_of(m.get("context")).get("id"), f"{kind}.original_message_id"
    )
    identity = make_identity(IdentityKind.WHATSAPP, GROUP_PREFIX + group) if group else sender.identities[0]
    common: dict[str, Any] = {
        "channel": Channel.WHATSAPP,
        "external_id": wamid,
        "target_external_id": target,
        "sender": identity,
        "sender_name": None if group else sender.name or None,
        "endpoint": endpoint,
        "provider_ts": from_epoch(m.get("timestamp")),
    }
    if kind == "revoke":
        return Amendment(**common, action="deleted")
    edited = dict_of(change.get("message"))
    inner = optional_text(edited.get("type")) or next(
        (k for k in ("text", "image", "video", "document") if k in edited), "text"
    )
    content = read_content(edited, inner)
    text = f"{sender.shown}: {content.text}" if group else content.text
    return Amendment(
        **common,
        action="edited",
        text=text,
        attachments=content.attachments or None,
        meta={"type": inner, **content.meta},
    )


def _context(m: dict[str, Any], meta: dict[str, Any]) -> None:
    """What any kind may carry besides: the message it replies to, forwarding, an ad referral."""
    context = dict_of(m.get("context"))
    if isinstance(context.get("id"), str):
        meta["reply_to"] = context["id"]
    if context.get("forwarded") or context.get("frequently_forwarded"):
        meta["forwarded"] = True
    if isinstance(context.get("referred_product"), dict):
        meta["referred_product"] = context["referred_product"]
    if isinstance(m.get("referral"), dict):
        meta["referral"] = m["referral"]


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
