"""WeChat Official Account: XML pushes in, customer-service messages out.

``verify`` checks the signatures, ``crypto`` decrypts safe-mode pushes, ``parse`` reads
a push, ``tokens`` shares the access token between processes, ``channel`` holds the
adapter (its path, ``send`` and ``build``), ``config`` the ``channels.wechat`` section.
"""

from gateway.channels.wechat.channel import WeChatChannel, build
from gateway.channels.wechat.config import WeChatConfig

__all__ = ["WeChatChannel", "WeChatConfig", "build"]
