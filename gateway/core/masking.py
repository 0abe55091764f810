"""Masking every customer-supplied string of a message before it is stored, published,
logged or used in a key (docs/security.md, "Card numbers").

What a customer or their software chose is masked: the text, subject and HTML, the
sender's name, attachment names and URLs, attribute names and values, the details under
``meta``, and the ids a customer's own client picks (a web chat frame id). Masking is
deterministic, so a masked id still finds its duplicate.

Identities that must match exactly are refused instead (``gateway.identity``): an email
address, API ``from.id`` or ``from.email`` holding a card number is no identity. The API
channel refuses a message id holding one (422).

Provider structural ids are not customer text and stay as sent: ids the provider assigns
(a WhatsApp order's ``catalog_id``, Meta and Telegram message ids, Twilio SIDs) — keys in
``STRUCTURAL_KEYS`` under ``meta`` — and the external ids of provider channels. A mail's
Message-ID and references are threading data the mail software assigns: kept exact too,
since a reply must quote them as they were.
"""

from __future__ import annotations

from typing import Any

from gateway.model import Amendment, Attachment, Channel, InboundMessage
from gateway.redaction import mask_card_numbers

# Keys under ``meta`` whose values the provider assigns (not the customer): left alone.
STRUCTURAL_KEYS = frozenset(
    {
        "catalog_id",
        "product_retailer_id",
        "id",
        "mid",
        "message_id",
        "edited_message_id",
        "in_reply_to",
        "references",
        "reply_to",
        "wa_id",
        "user_id",
        "ad_id",
        "list_id",
        "business_connection_id",
        "message_sid",
        "call_sid",
        "recording_sid",
        "transcription_sid",
    }
)
# Channels whose external ids the customer's own client chooses (a web chat frame id).
CUSTOMER_ID_CHANNELS = frozenset({Channel.WEBCHAT, Channel.FORM})
# Channels whose attachment URLs the customer's software wrote (not a provider's media URL).
CUSTOMER_URL_CHANNELS = frozenset({Channel.API, Channel.EMAIL, Channel.WEBCHAT, Channel.FORM})


def mask_tree(value: Any, *, structural: bool = True) -> Any:
    """Strings anywhere in a JSON-like value masked, dict keys included; values under
    provider structural keys kept when ``structural``."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, dict):
        masked: dict[Any, Any] = {}
        for key, item in value.items():
            name = mask_card_numbers(key) if isinstance(key, str) else key
            if structural and key in STRUCTURAL_KEYS and _plain_ids(item):
                masked[name] = item
            else:
                masked[name] = mask_tree(item, structural=structural)
        return masked
    if isinstance(value, list | tuple):
        return [mask_tree(v, structural=structural) for v in value]
    return value


def _plain_ids(item: Any) -> bool:
    """An id or a list of ids (never a structure that could hold customer text)."""
    if isinstance(item, list):
        return all(isinstance(i, str | int) for i in item)
    return isinstance(item, str | int)


def mask_attachments(attachments: list[Attachment], *, urls: bool) -> list[Attachment]:
    """Names always; URLs when the customer's software gave them (a provider's media URL
    is its structural address, fetched as it is)."""
    return [
        a.model_copy(update={"name": mask_card_numbers(a.name), "url": mask_card_numbers(a.url) if urls else a.url})
        for a in attachments
    ]


def mask_id(channel: Channel, value: str) -> str:
    if channel in CUSTOMER_ID_CHANNELS:
        return mask_card_numbers(value) or value
    return value


def redact(message: InboundMessage) -> InboundMessage:
    """The message with every customer-supplied string masked."""
    channel = message.channel
    return message.model_copy(
        update={
            "text": mask_card_numbers(message.text) or "",
            "html": mask_card_numbers(message.html),
            "subject": mask_card_numbers(message.subject),
            "sender_name": mask_card_numbers(message.sender_name),
            "attachments": mask_attachments(message.attachments, urls=channel in CUSTOMER_URL_CHANNELS),
            "meta": mask_tree(message.meta),
            "contact_attributes": mask_tree(message.contact_attributes, structural=False),
            "conversation_attributes": mask_tree(message.conversation_attributes, structural=False),
            "external_id": mask_id(channel, message.external_id),
            "thread_refs": [mask_id(channel, r) for r in message.thread_refs],
            "own_thread_ids": [mask_id(channel, r) for r in message.own_thread_ids],
        }
    )


def redact_amendment(amendment: Amendment) -> Amendment:
    """An edit or deletion with its customer-supplied strings masked (ids are the provider's)."""
    return amendment.model_copy(
        update={
            "text": mask_card_numbers(amendment.text) or "",
            "sender_name": mask_card_numbers(amendment.sender_name),
            "attachments": None
            if amendment.attachments is None
            else mask_attachments(amendment.attachments, urls=False),
            "meta": mask_tree(amendment.meta),
        }
    )
