"""What intake writes for a customer message besides routing: the stored ``Message``, the event
payloads, the search terms and the list preview (card numbers already masked)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from gateway.model import Direction, InboundMessage, Message, RoutingDecision, Sender, new_id
from gateway.storage.base import EventTemplates
from gateway.storage.search_terms import identity_terms, text_terms

PREVIEW_CHARS = 140


def stored_message(message: InboundMessage, received_ms: int) -> Message:
    """The customer's message as the conversation keeps it. (Validated although built from
    a validated message: pydantic's ``model_construct`` is twice as slow as validating.)"""
    return Message(
        id=new_id("msg"),
        direction=Direction.INBOUND,
        channel=message.channel,
        external_id=message.external_id,
        sender=Sender(kind="customer", id=message.sender.key, name=message.sender_name),
        text=message.text,
        html=message.html,
        subject=message.subject,
        attachments=message.attachments,
        provider_ts=message.provider_ts,
        received_at=datetime.fromtimestamp(received_ms / 1000, UTC),
        flags=list(message.flags),
        meta=message.meta,
    )


def event_templates(
    message: InboundMessage, message_json: str, decision: RoutingDecision, *, opened_with_message: bool = False
) -> EventTemplates:
    """The events the store publishes with the message, depending on what it does with it.
    ``opened_with_message``: ``conversation.opened`` carries the message as ``message``."""
    common = {"channel": message.channel.value}
    preview = (message.text or message.subject or "")[:PREVIEW_CHARS]
    opened = orjson.dumps({"type": "conversation.opened", **common, "endpoint": message.endpoint}).decode()
    if opened_with_message:
        opened = f'{opened[:-1]},"message":{message_json}}}'
    return EventTemplates(
        # The stored message JSON goes in as it is: no decode and re-encode per message.
        inbound=f'{{"type":"message.inbound","channel":"{message.channel.value}","message":{message_json}}}',
        opened=opened,
        reopened=orjson.dumps({"type": "conversation.reopened", **common, "endpoint": message.endpoint}).decode(),
        offer=orjson.dumps(
            {
                "type": "conversation.offer",
                **common,
                "skills": decision.skills,
                "rule": decision.rule,
                "preview": preview,
            }
        ).decode(),
    )


def search_terms(stored: Message, identity_keys: list[str]) -> list[str]:
    """What the conversation is found by after this message: its text (as stored, card
    numbers masked), attachment names, the subject, the sender's name and identities."""
    names = [a.name or "" for a in stored.attachments]
    return list(
        dict.fromkeys(
            [
                *text_terms(stored.text or "", stored.subject or "", stored.sender.name or "", *names),
                *identity_terms(identity_keys),
            ]
        )
    )


def preview(stored: Message) -> str:
    """The start of the message as an agent's list shows it (card numbers masked)."""
    text = " ".join((stored.text or stored.subject or "").split())
    if not text and stored.attachments:
        text = ", ".join(a.name or a.content_type for a in stored.attachments)
    return text[:PREVIEW_CHARS]
