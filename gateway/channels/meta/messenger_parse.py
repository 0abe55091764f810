"""Messenger (``object: page``) and Instagram (``object: instagram``) webhooks → messages
and delivery statuses. Pure: the body is already verified, nothing is stored here.

``entry[].messaging[]`` events carry ``sender.id`` (PSID / IGSID: the identity),
``recipient.id`` (our page / IG account: the endpoint) and ``timestamp`` in ms.

* ``message``: text, attachments (``type`` + ``payload.url``; stickers keep
  ``payload.sticker_id`` as the media id; a shared location becomes text + meta),
  ``reply_to.mid`` → ``meta.reply_to``. ``is_echo`` (our own sends) is skipped.
  Instagram ``is_deleted`` (the customer unsent a message) is stored, unrouted, as
  ``flags: ["deleted"]`` with ``meta.deleted_message_id`` — the original stays in the
  history, marked by this record.
* ``message_edit``: stored as a new message flagged ``edited`` naming the original.
* ``reaction``: stored, unrouted, like WhatsApp's (``meta.reaction``).
* ``postback`` (a button tap): a message whose text is the button title.
* ``delivery``: ``mids[]`` → ``delivered`` for each of our messages. Instagram's
  ``read.mid`` → ``read``. A ``watermark`` (ms; Messenger's only content of ``read`` and
  always present in ``delivery``: "everything sent to this customer up to this time")
  becomes a ``Watermark`` for the customer and page; the webhook turns it into status
  updates for the replies it covers (``gateway.channels.meta.watermarks``).
"""

from __future__ import annotations

from datetime import datetime
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
from gateway.channels.meta.watermarks import Watermark
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import (
    Attachment,
    Channel,
    DeliveryStatus,
    IdentityKind,
    InboundMessage,
    StatusUpdate,
)

OBJECTS = {Channel.MESSENGER: "page", Channel.INSTAGRAM: "instagram"}
KINDS = {Channel.MESSENGER: IdentityKind.MESSENGER, Channel.INSTAGRAM: IdentityKind.INSTAGRAM}
# Meta gives only a type for attachments; the MIME family is what is known.
CONTENT_TYPES = {"image": "image/*", "video": "video/*", "audio": "audio/*", "file": "application/octet-stream"}


def parse_messenger(data: Any, channel: Channel) -> Batch:
    batch = Batch()
    for entry in entries(data, OBJECTS[channel]):
        for raw in list_of(entry.get("messaging")):
            event = dict_of(raw)
            try:
                _event(event, channel, batch)
            except (BadEvent, InvalidIdentity, KeyError, TypeError, ValueError) as exc:
                mid = dict_of(event.get("message")).get("mid")
                batch.problems.append(f"event {mid or event.get('timestamp')!r}: {exc}")
    return batch


def _event(event: dict[str, Any], channel: Channel, batch: Batch) -> None:
    at = from_epoch(event.get("timestamp"), millis=True)
    if _receipt(event, channel, batch, at):
        return
    message = dict_of(event.get("message"))
    if message.get("is_echo"):
        batch.skipped += 1
        return
    sender = make_identity(KINDS[channel], text_of(dict_of(event.get("sender")).get("id"), "sender.id"))
    common: dict[str, Any] = {
        "channel": channel,
        "endpoint": str(dict_of(event.get("recipient")).get("id") or ""),
        "sender": sender,
        "provider_ts": at,
    }
    if "message" in event:
        batch.events.append(_message(message, common))
    elif "message_edit" in event:
        batch.events.append(_edit(dict_of(event["message_edit"]), common, at))
    elif "reaction" in event:
        batch.events.append(_reaction(dict_of(event["reaction"]), common, event.get("timestamp", "")))
    elif "postback" in event:
        batch.events.append(_postback(dict_of(event["postback"]), common, event.get("timestamp", "")))
    else:
        batch.skipped += 1  # optins, referrals, handover and the like: not customer messages


def _receipt(event: dict[str, Any], channel: Channel, batch: Batch, at: datetime | None) -> bool:
    """A ``delivery`` or ``read`` report → status updates for the ``mids`` it names and a
    watermark for the rest; False when the event is not a report."""
    for kind, status in (("delivery", DeliveryStatus.DELIVERED), ("read", DeliveryStatus.READ)):
        if kind not in event:
            continue
        report = dict_of(event[kind])
        mids = [m for m in [*list_of(report.get("mids")), report.get("mid")] if isinstance(m, str) and m]
        for mid in mids:
            batch.events.append(StatusUpdate(channel=channel, external_id=mid, status=status, at=at))
        mark = _watermark(event, report, channel, status, at)
        if mark is not None:
            batch.events.append(mark)
        elif not mids:
            batch.skipped += 1  # names neither a message nor a time
        return True
    return False


def _edit(edit: dict[str, Any], common: dict[str, Any], at: datetime | None) -> InboundMessage:
    mid = text_of(edit.get("mid"), "message_edit.mid")
    number = edit.get("num_edit", at.timestamp() if at else 0)
    return InboundMessage(
        **common,
        external_id=f"{mid}:edit:{number}",
        text=optional_text(edit.get("text")),
        flags=["edited"],
        meta={"type": "edit", "edited_message_id": mid},
    )


def _reaction(reaction: dict[str, Any], common: dict[str, Any], stamp: Any) -> InboundMessage:
    mid = text_of(reaction.get("mid"), "reaction.mid")
    action = optional_text(reaction.get("action")) or "react"
    emoji = optional_text(reaction.get("emoji"))
    return InboundMessage(
        **common,
        external_id=f"reaction:{common['sender'].value}:{mid}:{action}:{stamp}",
        text=emoji if action == "react" else "",
        flags=["reaction"],
        route=False,
        meta={
            "type": "reaction",
            "reaction": {
                "message_id": mid,
                "emoji": emoji,
                "action": action,
                **({"name": reaction["reaction"]} if isinstance(reaction.get("reaction"), str) else {}),
            },
        },
    )


def _postback(postback: dict[str, Any], common: dict[str, Any], stamp: Any) -> InboundMessage:
    mid = optional_text(postback.get("mid"))
    external_id = mid or f"postback:{common['sender'].value}:{stamp}"
    return InboundMessage(
        **common,
        external_id=text_of(external_id, "postback.mid"),
        text=optional_text(postback.get("title")),
        meta={"type": "postback", "postback": {"payload": optional_text(postback.get("payload"))}},
    )


def _watermark(
    event: dict[str, Any], report: dict[str, Any], channel: Channel, status: DeliveryStatus, at: datetime | None
) -> Watermark | None:
    """The report's ``watermark`` for its customer, or None when it has no usable one (a
    bad watermark must not cost the ``mids`` of the same event)."""
    raw = report.get("watermark")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    until = from_epoch(raw, millis=True)
    if until is None:
        return None
    try:
        customer = make_identity(KINDS[channel], str(dict_of(event.get("sender")).get("id") or ""))
    except InvalidIdentity:
        return None
    endpoint = dict_of(event.get("recipient")).get("id")
    return Watermark(
        channel=channel,
        customer=customer,
        endpoint=str(endpoint) if isinstance(endpoint, str | int) and not isinstance(endpoint, bool) else "",
        status=status,
        until=until,
        at=at,
    )


def _message(message: dict[str, Any], common: dict[str, Any]) -> InboundMessage:
    mid = text_of(message.get("mid"), "message.mid")
    if message.get("is_deleted"):
        return InboundMessage(
            **common,
            external_id=f"{mid}:deleted",
            flags=["deleted"],
            route=False,
            meta={"type": "deleted", "deleted_message_id": mid},
        )
    lines = [optional_text(message.get("text"))] if message.get("text") else []
    content = Content(meta={"type": "text"})
    for raw in list_of(message.get("attachments")):
        _attachment(dict_of(raw), lines, content)
    meta = content.meta
    if content.attachments:
        meta["type"] = "sticker" if any(a.media_id for a in content.attachments) else "media"
    elif "location" in meta:
        meta["type"] = "location"
    elif "shares" in meta:
        meta["type"] = "share"
    _replied_to(message, meta)
    return InboundMessage(**common, external_id=mid, text="\n".join(lines), attachments=content.attachments, meta=meta)


def _attachment(attachment: dict[str, Any], lines: list[str], content: Content) -> None:
    """A location or a shared link becomes a line of text; media an attachment."""
    kind = optional_text(attachment.get("type"))
    payload = dict_of(attachment.get("payload"))
    url = optional_text(payload.get("url")) or None
    if kind == "location" or "coordinates" in payload:
        coords = dict_of(payload.get("coordinates"))
        lat, lon = coords.get("lat"), coords.get("long")
        lines.append(location_text(lat, lon, name=optional_text(attachment.get("title"))))
        content.meta["location"] = {"latitude": lat, "longitude": lon, **({"url": url} if url else {})}
    elif kind == "fallback" or kind == "share" or (kind not in CONTENT_TYPES and url and kind != "sticker"):
        # Shared links, posts, reels and story mentions: a link the agent can open.
        lines.append(" ".join(p for p in (optional_text(attachment.get("title")), url or "") if p))
        content.meta.setdefault("shares", []).append({"type": kind, **({"url": url} if url else {})})
    else:
        sticker = payload.get("sticker_id")
        content.attachments.append(
            Attachment(
                url=url,
                media_id=str(sticker) if sticker is not None else None,
                content_type="image/*" if sticker is not None else CONTENT_TYPES.get(kind, "application/octet-stream"),
            )
        )


def _replied_to(message: dict[str, Any], meta: dict[str, Any]) -> None:
    """The message or story it answers, and a quick-reply button's payload."""
    reply_to = dict_of(message.get("reply_to"))
    if isinstance(reply_to.get("mid"), str):
        meta["reply_to"] = reply_to["mid"]
    if isinstance(reply_to.get("story"), dict):
        meta["reply_to_story"] = reply_to["story"]
    quick = dict_of(message.get("quick_reply"))
    if isinstance(quick.get("payload"), str):
        meta["quick_reply"] = quick["payload"]
