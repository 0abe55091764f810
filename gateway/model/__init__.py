"""Domain types of the gateway.

Pure data: no I/O, no imports from the rest of the package. Every type round-trips
through JSON (``model_dump_json`` / ``model_validate_json``) and takes keyword
arguments only, so a swapped field cannot slip through positionally.

The types live in modules by topic (``basics``, ``contacts``, ``conversations``,
``messages``); every name is importable from here.
"""

from gateway.model.basics import (
    MAX_DURATION,
    Backlogged,
    Model,
    ServiceUnavailable,
    new_id,
    parse_duration,
    utcnow,
    whole_number,
)
from gateway.model.contacts import Channel, Contact, Identity, IdentityKind
from gateway.model.conversations import (
    Conversation,
    ConversationStatus,
    RouteTarget,
    RoutingContext,
    RoutingDecision,
    SlaState,
)
from gateway.model.messages import (
    AUTO_FLAG,
    FINAL_STATUSES,
    LOOP_GUARD_FLAG,
    STATUS_RANK,
    Amendment,
    AmendResult,
    Attachment,
    DeliveryStatus,
    Direction,
    InboundMessage,
    IngestResult,
    Message,
    OutboundRequest,
    Sender,
    SendResult,
    StatusUpdate,
    status_moves_forward,
)

__all__ = [
    "AUTO_FLAG",
    "FINAL_STATUSES",
    "LOOP_GUARD_FLAG",
    "MAX_DURATION",
    "STATUS_RANK",
    "AmendResult",
    "Amendment",
    "Attachment",
    "Backlogged",
    "Channel",
    "Contact",
    "Conversation",
    "ConversationStatus",
    "DeliveryStatus",
    "Direction",
    "Identity",
    "IdentityKind",
    "InboundMessage",
    "IngestResult",
    "Message",
    "Model",
    "OutboundRequest",
    "RouteTarget",
    "RoutingContext",
    "RoutingDecision",
    "SendResult",
    "Sender",
    "ServiceUnavailable",
    "SlaState",
    "StatusUpdate",
    "new_id",
    "parse_duration",
    "status_moves_forward",
    "utcnow",
    "whole_number",
]
