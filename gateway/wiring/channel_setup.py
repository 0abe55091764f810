"""Building the channel adapters from their config sections.

A channel is enabled by its section in ``channels``; without it its paths answer 404.
Adapters never see the config types: they get plain values, so they stay independent
of how the gateway is configured.
"""

from __future__ import annotations

import logging
import os

from gateway.channels.api import ApiChannel
from gateway.channels.base import ChannelAdapter, InboundSink
from gateway.channels.email import EmailChannel
from gateway.channels.meta import InstagramChannel, MessengerChannel, WhatsAppChannel
from gateway.channels.telegram import TelegramChannel
from gateway.channels.twilio import TwilioChannel
from gateway.channels.webchat import VisitorTokens, WebchatChannel, WebchatSettings, derive_token_key
from gateway.channels.wechat import WeChatChannel
from gateway.config import EmailChannelConfig, GatewayConfig
from gateway.storage import Store
from gateway.wiring.webchat_bus import open_bus
from gateway.wiring.webchat_history import StoreHistory

log = logging.getLogger(__name__)


def webchat_token_key(config: GatewayConfig) -> bytes:
    """``channels.webchat.token_secret``, else a key derived from ``channels.api.secret``,
    else from the first ops token; random (tokens die with the process) only if none is set."""
    section = config.channels.webchat
    api = config.channels.api
    candidates = [
        section.token_secret if section else None,
        api.secret if api else None,
        *(t.token for t in config.auth.tokens if t.role == "ops"),
    ]
    for secret in candidates:
        if secret is not None:
            return derive_token_key(secret.get_secret_value())
    log.warning("no secret configured for web chat visitor tokens; set channels.webchat.token_secret")
    return os.urandom(32)


def build_webchat(config: GatewayConfig, sink: InboundSink, store: Store) -> WebchatChannel | None:
    section = config.channels.webchat
    if section is None:
        return None
    return WebchatChannel(
        sink,
        tokens=VisitorTokens(webchat_token_key(config)),
        history=StoreHistory(store),
        bus=open_bus(store),
        settings=WebchatSettings.from_mapping(section.model_dump()),
        public_url=config.http.public_url,
    )


def build_adapters(config: GatewayConfig, sink: InboundSink, store: Store) -> list[ChannelAdapter]:
    """One adapter per configured channel section; a missing section means disabled (404)."""
    channels = config.channels
    adapters: list[ChannelAdapter] = []
    if channels.api is not None:
        adapters.append(
            ApiChannel(
                sink,
                secret=channels.api.secret.get_secret_value(),
                callback_url=channels.api.callback_url,
                default_region=config.identity.default_region,
            )
        )
    if channels.twilio is not None:
        twilio = channels.twilio
        adapters.append(
            TwilioChannel(
                sink,
                account_sid=twilio.account_sid,
                auth_token=twilio.auth_token.get_secret_value(),
                public_url=config.http.public_url,
                voice_settings=twilio.voice,
                api_base_url=twilio.api_base_url,
                from_number=twilio.from_number,
                messaging_service_sid=twilio.messaging_service_sid,
                signing_key=twilio.webhook_signing_key.get_secret_value() if twilio.webhook_signing_key else None,
                send_timeout=twilio.send_timeout,
                default_region=config.identity.default_region,
            )
        )
    if channels.whatsapp is not None:
        wa = channels.whatsapp
        adapters.append(
            WhatsAppChannel(
                sink,
                app_secret=wa.app_secret.get_secret_value(),
                verify_token=wa.verify_token.get_secret_value(),
                access_token=wa.access_token.get_secret_value(),
                phone_number_id=wa.phone_number_id,
                api_base_url=wa.api_base_url,
            )
        )
    if channels.messenger is not None:
        fb = channels.messenger
        adapters.append(
            MessengerChannel(
                sink,
                app_secret=fb.app_secret.get_secret_value(),
                verify_token=fb.verify_token.get_secret_value(),
                access_token=fb.page_access_token.get_secret_value(),
                api_base_url=fb.api_base_url,
                account_id=fb.page_id,
                human_agent_tag=fb.human_agent_tag,
                reader=store,
            )
        )
    if channels.instagram is not None:
        ig = channels.instagram
        adapters.append(
            InstagramChannel(
                sink,
                app_secret=ig.app_secret.get_secret_value(),
                verify_token=ig.verify_token.get_secret_value(),
                access_token=ig.access_token.get_secret_value(),
                api_base_url=ig.api_base_url,
                account_id=ig.account_id,
                human_agent_tag=ig.human_agent_tag,
                reader=store,
            )
        )
    if channels.telegram is not None:
        tg = channels.telegram
        adapters.append(
            TelegramChannel(
                sink,
                bot_token=tg.bot_token.get_secret_value(),
                secret_token=tg.secret_token.get_secret_value(),
                api_base_url=tg.api_base_url,
            )
        )
    if channels.wechat is not None:
        wc = channels.wechat
        adapters.append(
            WeChatChannel(
                sink,
                token=wc.token.get_secret_value(),
                app_id=wc.app_id,
                app_secret=wc.app_secret.get_secret_value(),
                api_base_url=wc.api_base_url,
                shared=store,  # the access token is one for all gateway processes
                encoding_aes_key=wc.encoding_aes_key.get_secret_value() if wc.encoding_aes_key else None,
            )
        )
    if channels.email is not None or config.smtp.enabled:
        # SMTP in needs no section of its own (defaults apply); sending needs channels.email.relay.
        fallback_secrets = [channels.api.secret.get_secret_value()] if channels.api is not None else []
        fallback_secrets += [t.token.get_secret_value() for t in config.auth.tokens]
        adapters.append(
            EmailChannel(
                sink, smtp=config.smtp, email=channels.email or EmailChannelConfig(), fallback_secrets=fallback_secrets
            )
        )
    webchat = build_webchat(config, sink, store)
    if webchat is not None:
        adapters.append(webchat)
    return adapters
