"""WeChat Official Account: signature, XML pushes, access tokens, customer-service sends."""

from gateway.channels.wechat.channel import WeChatChannel

__all__ = ["WeChatChannel"]
