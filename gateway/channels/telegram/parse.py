"""A Telegram Update → the messages and amendments it carries, or the kind it is when a
support bot does not keep it. Pure: the request is already verified, nothing is stored.

Decisions (see docs/channels/telegram.md and docs/message-kinds.md):

* A support bot talks to customers one to one: private chats become messages (and, with
  Telegram Business, the private chats of the business account the bot is connected to:
  ``business_message``). Groups, channels and bots are acknowledged and counted.
* The identity is ``telegram:<chat.id>``; in a private chat that is the user's id, and it
  is where replies go (``sendMessage`` ``chat_id``, with ``business_connection_id`` for a
  business chat, whose conversation endpoint is ``business:<connection id>``).
* A message's dedupe key is ``<chat id>:<message id>`` (``<connection>:<chat>:<message>``
  in business chats): what edits and deletions name. An edit (``edited_message``,
  ``edited_business_message``) changes that message; ``deleted_business_messages`` marks
  them deleted. Reactions are stored, offered to no agent.
* What each message says is in ``kinds``; update kinds a support desk does not act on
  (inline queries, payments' pre-checkout, polls' state, member changes, boosts …) are
  counted in ``gateway_inbound_ignored_total`` by kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.channels.fields import BadEvent, dict_of, from_epoch, list_of, optional_text
from gateway.channels.telegram.kinds import message_content, service_kind
from gateway.errors import RequestRejected
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Amendment, Channel, Identity, IdentityKind, InboundMessage

MESSAGES = ("message", "business_message")
EDITS = ("edited_message", "edited_business_message")
BUSINESS = "business:"


@dataclass
class Update:
    """What one Update carries: events to store, or the kind it is when ignored."""

    events: list[InboundMessage | Amendment] = field(default_factory=list)
    ignored: str | None = None


def parse_update(data: Any, *, endpoint: str) -> Update:
    if not isinstance(data, dict):
        raise RequestRejected(422, "invalid", "the body must be a JSON object (an Update)")
    update_id = data.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise RequestRejected(422, "invalid", "update_id: must be an integer")
    kind = next((k for k in data if k != "update_id"), "empty")
    body = dict_of(data.get(kind))
    try:
        if kind in MESSAGES:
            return _message(body, kind, endpoint)
        if kind in EDITS:
            return _edit(body, kind, update_id, endpoint)
        if kind == "deleted_business_messages":
            return _deleted(body, update_id)
        if kind == "message_reaction":
            return _reaction(body, update_id, endpoint)
        if kind == "callback_query":
            return _button(body, update_id, endpoint)
    except (BadEvent, InvalidIdentity) as exc:
        raise RequestRejected(422, "invalid", f"{kind}: {exc}") from None
    return Update(ignored=kind)


class _Chat:
    """A private chat's customer, or why the message is not one (a group, a bot, an echo)."""

    def __init__(self, msg: dict[str, Any]) -> None:
        self.chat = dict_of(msg.get("chat"))
        self.sender = dict_of(msg.get("from"))
        self.connection = optional_text(msg.get("business_connection_id"))
        self.not_customer = ""
        if self.chat.get("type") != "private":
            self.not_customer = f"{self.chat.get('type') or 'unknown'}_chat"
        elif self.sender.get("is_bot"):
            self.not_customer = "bot_message"
        elif self.connection and self.sender.get("id") != self.chat.get("id"):
            self.not_customer = "business_echo"  # the business owner writing to the customer

    @property
    def identity(self) -> Identity:
        return make_identity(IdentityKind.TELEGRAM, str(self.chat.get("id", "")))

    def endpoint(self, bot: str) -> str:
        return BUSINESS + self.connection if self.connection else bot

    def message_key(self, message_id: Any) -> str:
        if isinstance(message_id, bool) or not isinstance(message_id, int):
            raise BadEvent("message_id: must be an integer")
        base = f"{self.chat.get('id')}:{message_id}"
        return f"{self.connection}:{base}" if self.connection else base

    @property
    def name(self) -> str | None:
        parts = (optional_text(self.sender.get("first_name")), optional_text(self.sender.get("last_name")))
        return " ".join(p for p in parts if p) or optional_text(self.sender.get("username")) or None


def _message(msg: dict[str, Any], kind: str, endpoint: str) -> Update:
    chat = _Chat(msg)
    if chat.not_customer:
        return Update(ignored=chat.not_customer)
    service = service_kind(msg)
    if service:
        return Update(ignored=f"service_{service}")
    content = message_content(msg, chat.sender)
    if chat.connection:
        content.meta["business_connection_id"] = chat.connection
    message = InboundMessage(
        channel=Channel.TELEGRAM,
        external_id=chat.message_key(msg.get("message_id")),
        endpoint=chat.endpoint(endpoint),
        sender=chat.identity,
        sender_name=chat.name,
        extra_identities=content.extra_identities,
        text=content.text,
        attachments=content.attachments,
        provider_ts=from_epoch(msg.get("date")),
        language_hint=optional_text(chat.sender.get("language_code")) or None,
        flags=content.flags,
        meta={"type": kind, **content.meta},
    )
    return Update(events=[message])


def _edit(msg: dict[str, Any], kind: str, update_id: int, endpoint: str) -> Update:
    chat = _Chat(msg)
    if chat.not_customer:
        return Update(ignored=f"edited_{chat.not_customer}")
    content = message_content(msg, chat.sender)
    amendment = Amendment(
        channel=Channel.TELEGRAM,
        external_id=f"update:{update_id}",
        target_external_id=chat.message_key(msg.get("message_id")),
        action="edited",
        sender=chat.identity,
        sender_name=chat.name,
        endpoint=chat.endpoint(endpoint),
        text=content.text,
        attachments=content.attachments or None,
        provider_ts=from_epoch(msg.get("edit_date")) or from_epoch(msg.get("date")),
        meta={"type": kind, **content.meta},
    )
    return Update(events=[amendment])


def _deleted(body: dict[str, Any], update_id: int) -> Update:
    """The customer deleted messages in a business chat: each is marked deleted."""
    chat = _Chat({**body, "from": dict_of(body.get("chat"))})
    if chat.not_customer:
        return Update(ignored=f"deleted_{chat.not_customer}")
    events: list[InboundMessage | Amendment] = [
        Amendment(
            channel=Channel.TELEGRAM,
            external_id=f"update:{update_id}:{message_id}",
            target_external_id=chat.message_key(message_id),
            action="deleted",
            sender=chat.identity,
        )
        for message_id in list_of(body.get("message_ids"))
    ]
    return Update(events=events)


def _reaction(body: dict[str, Any], update_id: int, endpoint: str) -> Update:
    """A reaction in a private chat: stored, offered to no agent."""
    chat = _Chat({**body, "from": dict_of(body.get("user"))})
    if chat.not_customer or not chat.sender:
        return Update(ignored="message_reaction")
    emoji = [
        optional_text(dict_of(r).get("emoji")) or f"[{dict_of(r).get('type')}]"
        for r in list_of(body.get("new_reaction"))
    ]
    target = chat.message_key(body.get("message_id"))
    message = InboundMessage(
        channel=Channel.TELEGRAM,
        external_id=f"update:{update_id}",
        endpoint=chat.endpoint(endpoint),
        sender=chat.identity,
        sender_name=chat.name,
        text=" ".join(emoji) or "[reaction removed]",
        provider_ts=from_epoch(body.get("date")),
        flags=["reaction"],
        route=False,
        meta={
            "type": "reaction",
            "reaction": {"message_id": target, "emoji": " ".join(emoji), "action": "react" if emoji else "unreact"},
        },
    )
    return Update(events=[message])


def _button(query: dict[str, Any], update_id: int, endpoint: str) -> Update:
    """An inline keyboard button tapped under one of the bot's messages."""
    msg = dict_of(query.get("message"))
    chat = _Chat({**msg, "from": dict_of(query.get("from"))})
    if chat.not_customer or not msg:
        return Update(ignored="callback_query")
    data = optional_text(query.get("data")) or optional_text(query.get("game_short_name"))
    message = InboundMessage(
        channel=Channel.TELEGRAM,
        external_id=f"update:{update_id}",
        endpoint=chat.endpoint(endpoint),
        sender=chat.identity,
        sender_name=chat.name,
        text=f"[button: {data or 'tapped'}]",
        meta={"type": "callback_query", "callback": {"id": query.get("id"), "data": data}},
    )
    return Update(events=[message])
