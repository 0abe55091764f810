"""Telegram bots: ``POST /webhooks/telegram`` in, ``sendMessage`` out.

``verify`` checks the secret token, ``parse`` reads an Update, ``channel`` holds the
adapter (its path, ``send`` and ``build``), ``config`` the ``channels.telegram`` section.
"""

from gateway.channels.telegram.channel import TelegramChannel, build
from gateway.channels.telegram.config import TelegramConfig

__all__ = ["TelegramChannel", "TelegramConfig", "build"]
