"""``channels.telegram``: the bot, and the secret token its webhook was registered with."""

from __future__ import annotations

from gateway.channels.config import GuardSecret, RealSecret, Section


class TelegramConfig(Section):
    bot_token: RealSecret
    secret_token: GuardSecret
    api_base_url: str = "https://api.telegram.org"
