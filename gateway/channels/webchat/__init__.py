"""Web chat: the embeddable widget's websocket channel.

``channel`` holds the adapter (its paths, ``send`` and ``build``), ``session`` one
socket's chat, ``visitors`` the open sockets of each visitor, ``frames`` what the widget
and the gateway say to each other, ``limits`` origins and rates, ``tokens`` visitor
tokens, ``ports`` what the adapter needs from the rest of the gateway, ``config`` the
``channels.webchat`` section.
"""

from gateway.channels.webchat.channel import WebchatChannel, build, token_key
from gateway.channels.webchat.config import WebchatConfig
from gateway.channels.webchat.ports import BusUnavailable, ReplyBus, VisitorHistory
from gateway.channels.webchat.tokens import VisitorTokens, derive_token_key
from gateway.channels.webchat.visitors import endpoint_for

__all__ = [
    "BusUnavailable",
    "ReplyBus",
    "VisitorHistory",
    "VisitorTokens",
    "WebchatChannel",
    "WebchatConfig",
    "build",
    "derive_token_key",
    "endpoint_for",
    "token_key",
]
