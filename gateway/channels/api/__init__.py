"""The generic API channel: a CRM or app posts signed JSON; replies go to its callback.

``verify`` checks the signature, ``parse`` reads the body, ``channel`` holds the adapter
(its path, ``send`` and ``build``), ``config`` the ``channels.api`` section.
"""

from gateway.channels.api.channel import ApiChannel, build
from gateway.channels.api.config import ApiChannelConfig
from gateway.channels.api.parse import ApiInbound

__all__ = ["ApiChannel", "ApiChannelConfig", "ApiInbound", "build"]
