"""``channels.whatsapp``, ``channels.messenger`` and ``channels.instagram``: one Meta app
each (its secret signs the webhooks, its verify token answers the handshake), and the
token replies are sent with."""

from __future__ import annotations

from gateway.channels.config import GuardSecret, Secret, Section


class MetaConfigBase(Section):
    app_secret: GuardSecret
    verify_token: GuardSecret
    api_base_url: str = "https://graph.facebook.com/v21.0"


class WhatsAppConfig(MetaConfigBase):
    access_token: Secret
    phone_number_id: str


class MessengerConfig(MetaConfigBase):
    page_access_token: Secret
    page_id: str | None = None
    human_agent_tag: bool = False


class InstagramConfig(MetaConfigBase):
    access_token: Secret
    account_id: str | None = None
    human_agent_tag: bool = False
