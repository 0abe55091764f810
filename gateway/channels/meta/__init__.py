"""Meta's messaging products: WhatsApp Cloud API, Messenger and Instagram."""

from gateway.channels.meta.channels import InstagramChannel, MessengerChannel, WhatsAppChannel

__all__ = ["InstagramChannel", "MessengerChannel", "WhatsAppChannel"]
