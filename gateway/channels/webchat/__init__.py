"""Web chat: the embeddable widget's websocket channel (see ``adapter``)."""

from gateway.channels.webchat.adapter import WebchatChannel, WebchatSettings, endpoint_for
from gateway.channels.webchat.ports import BusUnavailable, ReplyBus, VisitorHistory
from gateway.channels.webchat.tokens import VisitorTokens, derive_token_key

__all__ = [
    "BusUnavailable",
    "ReplyBus",
    "VisitorHistory",
    "VisitorTokens",
    "WebchatChannel",
    "WebchatSettings",
    "derive_token_key",
    "endpoint_for",
]
