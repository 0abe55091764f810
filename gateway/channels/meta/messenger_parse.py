"""Messenger (``object: page``) and Instagram (``object: instagram``) webhooks → messages,
amendments and delivery statuses. Pure: the body is already verified, nothing is stored here.

``entry[].messaging[]`` events carry ``sender.id`` (PSID / IGSID: the identity),
``recipient.id`` (our page / IG account: the endpoint) and ``timestamp`` in ms.
``entry[].standby[]`` has the same events for conversations another app holds (the
handover protocol): their messages are stored for the history, flagged ``standby`` and
offered to no agent; their other events are counted.

* ``message``: text and attachments (see ``messenger_kinds``); ``is_echo`` (our own
  sends) is counted, not stored. Instagram's ``is_deleted`` (the customer unsent a
  message) marks that message deleted.
* ``message_edit``: the message it names gets the new text (an amendment).
* ``reaction``: stored, unrouted, like WhatsApp's (``meta.reaction``).
* ``postback`` (a button tap): a message whose text is the button title.
* ``messaging_feedback``: the customer's answers to a feedback form, stored unrouted.
* ``delivery``: ``mids[]`` → ``delivered`` for each of our messages. Instagram's
  ``read.mid`` → ``read``. A ``watermark`` (ms; Messenger's only content of ``read`` and
  always present in ``delivery``: "everything sent to this customer up to this time")
  becomes a ``Watermark`` for the customer and page; the webhook turns it into status
  updates for the replies it covers (``gateway.channels.meta.watermarks``).
* Opt-ins, referrals, handover notices, policy enforcement, account linking, game plays,
  response feedback and the ``changes`` of Instagram comments and mentions are not
  customer messages here: counted by kind (``gateway_inbound_ignored_total``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.channels.fields import BadEvent, dict_of, from_epoch, list_of, optional_text, text_of
from gateway.channels.meta.batch import Batch, entries
from gateway.channels.meta.messenger_kinds import feedback_text, message_content
from gateway.channels.meta.watermarks import Watermark
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import (
    Amendment,
    Channel,
    DeliveryStatus,
    IdentityKind,
    InboundMessage,
    StatusUpdate,
)

OBJECTS = {Channel.MESSENGER: "page", Channel.INSTAGRAM: "instagram"}
KINDS = {Channel.MESSENGER: IdentityKind.MESSENGER, Channel.INSTAGRAM: IdentityKind.INSTAGRAM}


def parse_messenger(data: Any, channel: Channel) -> Batch:
    batch = Batch()
    for entry in entries(data, OBJECTS[channel]):
        for source, standby in (("messaging", False), ("standby", True)):
            for raw in list_of(entry.get(source)):
                event = dict_of(raw)
                try:
                    _event(event, channel, batch, standby=standby)
                except (BadEvent, InvalidIdentity, KeyError, TypeError, ValueError) as exc:
                    mid = dict_of(event.get("message")).get("mid")
                    batch.problems.append(f"event {mid or event.get('timestamp')!r}: {exc}")
        for change in list_of(entry.get("changes")):  # comments, mentions, story insights
            batch.ignored.append(optional_text(dict_of(change).get("field")) or "change")
    return batch


def _event(event: dict[str, Any], channel: Channel, batch: Batch, *, standby: bool) -> None:
    at = from_epoch(event.get("timestamp"), millis=True)
    if standby and "message" not in event:
        batch.ignored.append("standby_" + _kind_of(event))
        return
    if _receipt(event, channel, batch, at):
        return
    message = dict_of(event.get("message"))
    if message.get("is_echo"):
        batch.ignored.append("echo")
        return
    kind = _kind_of(event)
    reader = READERS.get(kind)
    if reader is None:
        batch.ignored.append(kind)  # optins, referrals, handover and the like
        return
    sender = make_identity(KINDS[channel], text_of(dict_of(event.get("sender")).get("id"), "sender.id"))
    common: dict[str, Any] = {
        "channel": channel,
        "endpoint": str(dict_of(event.get("recipient")).get("id") or ""),
        "sender": sender,
        "provider_ts": at,
    }
    found = reader(dict_of(event[kind]), common, str(event.get("timestamp", "")))
    if standby and isinstance(found, InboundMessage):
        found = found.model_copy(update={"route": False, "flags": [*found.flags, "standby"]})
    batch.events.append(found)


def _kind_of(event: dict[str, Any]) -> str:
    """The event's kind: the one key besides sender, recipient and timestamp."""
    return next((k for k in event if k not in ("sender", "recipient", "timestamp")), "unknown")


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
            batch.ignored.append(f"{kind}_without_mids")  # names neither a message nor a time
        return True
    return False


def _edit(edit: dict[str, Any], common: dict[str, Any], stamp: str) -> Amendment:
    """The customer edited a message: it gets the new text."""
    mid = text_of(edit.get("mid"), "message_edit.mid")
    number = edit.get("num_edit", stamp)
    return Amendment(
        **common,
        external_id=f"{mid}:edit:{number}",
        target_external_id=mid,
        action="edited",
        text=optional_text(edit.get("text")),
    )


def _reaction(reaction: dict[str, Any], common: dict[str, Any], stamp: str) -> InboundMessage:
    mid = text_of(reaction.get("mid"), "reaction.mid")
    action = optional_text(reaction.get("action")) or "react"
    emoji = optional_text(reaction.get("emoji"))
    name = optional_text(reaction.get("reaction"))
    return InboundMessage(
        **common,
        external_id=f"reaction:{common['sender'].value}:{mid}:{action}:{stamp}",
        text=(emoji or f"[{name or 'reaction'}]") if action == "react" else "[reaction removed]",
        flags=["reaction"],
        route=False,
        meta={
            "type": "reaction",
            "reaction": {"message_id": mid, "emoji": emoji, "action": action, **({"name": name} if name else {})},
        },
    )


def _postback(postback: dict[str, Any], common: dict[str, Any], stamp: str) -> InboundMessage:
    mid = optional_text(postback.get("mid"))
    external_id = mid or f"postback:{common['sender'].value}:{stamp}"
    payload = optional_text(postback.get("payload"))
    meta: dict[str, Any] = {"type": "postback", "postback": {"payload": payload}}
    if isinstance(postback.get("referral"), dict):
        meta["referral"] = postback["referral"]
    return InboundMessage(
        **common,
        external_id=text_of(external_id, "postback.mid"),
        text=optional_text(postback.get("title")) or f"[button: {payload or 'tapped'}]",
        meta=meta,
    )


def _feedback(feedback: dict[str, Any], common: dict[str, Any], stamp: str) -> InboundMessage:
    """Answers to a feedback form: a rating, kept and offered to no agent."""
    return InboundMessage(
        **common,
        external_id=f"feedback:{common['sender'].value}:{stamp}",
        text=feedback_text(feedback),
        flags=["feedback"],
        route=False,
        meta={"type": "feedback", "feedback": feedback},
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


def _message(message: dict[str, Any], common: dict[str, Any], stamp: str) -> InboundMessage | Amendment:
    mid = text_of(message.get("mid"), "message.mid")
    if message.get("is_deleted"):
        return Amendment(**common, external_id=f"{mid}:deleted", target_external_id=mid, action="deleted")
    provider = "Instagram" if common["channel"] is Channel.INSTAGRAM else "Messenger"
    content = message_content(message, provider)
    return InboundMessage(
        **common,
        external_id=mid,
        text=content.text,
        attachments=content.attachments,
        flags=content.flags,
        route=content.route,
        meta=content.meta,
    )


Reader = Callable[[dict[str, Any], dict[str, Any], str], InboundMessage | Amendment]
READERS: dict[str, Reader] = {
    "message": _message,
    "message_edit": _edit,
    "reaction": _reaction,
    "postback": _postback,
    "messaging_feedback": _feedback,
}
