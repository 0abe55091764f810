"""Meta's messaging products: WhatsApp Cloud API, Messenger and Instagram.

``verify`` checks the handshake and signature, ``whatsapp_parse`` and
``messenger_parse`` read deliveries (``batch``), ``channel`` is what the adapters share,
``whatsapp`` and ``messenger`` are the adapters (``send`` and ``build_*``), ``graph``
calls the Graph API, ``watermarks`` reads Messenger's delivery and read watermarks,
``config`` holds the three sections.
"""

from gateway.channels.meta.config import InstagramConfig, MessengerConfig, WhatsAppConfig
from gateway.channels.meta.messenger import InstagramChannel, MessengerChannel, build_instagram, build_messenger
from gateway.channels.meta.whatsapp import WhatsAppChannel, build_whatsapp

__all__ = [
    "InstagramChannel",
    "InstagramConfig",
    "MessengerChannel",
    "MessengerConfig",
    "WhatsAppChannel",
    "WhatsAppConfig",
    "build_instagram",
    "build_messenger",
    "build_whatsapp",
]
