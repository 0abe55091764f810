"""Building the channel adapters from their config sections.

A channel is enabled by its section in ``channels``; without it its paths answer 404.
Each channel package builds its own adapter (``build(config, ctx)`` beside the adapter);
this module only lends them what the gateway has (``BuildContext``) and goes through the
sections in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.channels import api, email, meta, telegram, twilio, webchat, wechat
from gateway.channels.base import ChannelAdapter, InboundSink
from gateway.channels.config import BuildContext, OtherSecrets
from gateway.channels.form import FormChannel
from gateway.config import GatewayConfig
from gateway.storage import Store
from gateway.wiring.webchat_bus import open_bus
from gateway.wiring.webchat_history import StoreHistory

Builder = Callable[[Any, BuildContext], ChannelAdapter]


def other_secrets(config: GatewayConfig) -> OtherSecrets:
    """The secrets a channel may derive a key of its own from."""
    api_section = config.channels.api
    return OtherSecrets(
        api_secret=api_section.secret.get_secret_value() if api_section is not None else None,
        ops_tokens=tuple(t.token.get_secret_value() for t in config.auth.tokens if t.role == "ops"),
        tokens=tuple(t.token.get_secret_value() for t in config.auth.tokens),
    )


def build_context(config: GatewayConfig, sink: InboundSink, store: Store) -> BuildContext:
    return BuildContext(
        sink=sink,
        public_url=config.http.public_url,
        default_region=config.identity.default_region,
        secrets=other_secrets(config),
        reader=store,
        shared=store,
        webchat_history=StoreHistory(store),
        open_reply_bus=lambda: open_bus(store),
    )


def configured_sections(config: GatewayConfig) -> list[tuple[Builder, Any]]:
    """(builder, section) of every channel, in the order their adapters are set up."""
    channels = config.channels
    mail = email.EmailSections(smtp=config.smtp, email=channels.email)
    return [
        (api.build, channels.api),
        (twilio.build, channels.twilio),
        (meta.build_whatsapp, channels.whatsapp),
        (meta.build_messenger, channels.messenger),
        (meta.build_instagram, channels.instagram),
        (telegram.build, channels.telegram),
        (wechat.build, channels.wechat),
        (email.build, mail if mail.enabled else None),
        (webchat.build, channels.webchat),
    ]


def build_adapters(config: GatewayConfig, sink: InboundSink, store: Store) -> list[ChannelAdapter]:
    """One adapter per configured channel section; a missing section means disabled (404).
    With cases on, the feedback form's channel too: it answers through email or SMS."""
    ctx = build_context(config, sink, store)
    adapters = [build(section, ctx) for build, section in configured_sections(config) if section is not None]
    if config.cases.file is not None:
        adapters.append(FormChannel(sink, adapter_for=lambda ch: next((a for a in adapters if ch in a.channels), None)))
    return adapters
