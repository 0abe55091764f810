"""The whole ``gateway.yaml``: ``GatewayConfig`` composing every section, ``channels`` included."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gateway.channels.api import ApiChannelConfig
from gateway.channels.config import Section
from gateway.channels.email import EmailChannelConfig, SmtpConfig
from gateway.channels.meta import InstagramConfig, MessengerConfig, WhatsAppConfig
from gateway.channels.telegram import TelegramConfig
from gateway.channels.twilio import TwilioConfig
from gateway.channels.webchat import WebchatConfig
from gateway.channels.wechat import WeChatConfig
from gateway.config.access import AuthConfig
from gateway.config.cases import CasesConfig
from gateway.config.conversations import IdentityConfig, ReplyTrackingConfig, RoutingConfig
from gateway.config.infrastructure import BrokerConfig, HttpConfig, LogConfig, StorageConfig
from gateway.config.selfservice import CsatConfig, FaqConfig, KnowledgeConfig, SurveysConfig
from gateway.config.verification import VerificationConfig


class ChannelsConfig(Section):
    """``channels``: each channel's section is its own package's model; a missing one
    means the channel is off (its paths answer 404)."""

    api: ApiChannelConfig | None = None
    email: EmailChannelConfig | None = None
    twilio: TwilioConfig | None = None
    whatsapp: WhatsAppConfig | None = None
    messenger: MessengerConfig | None = None
    instagram: InstagramConfig | None = None
    telegram: TelegramConfig | None = None
    wechat: WeChatConfig | None = None
    webchat: WebchatConfig | None = None


class GatewayConfig(Section):
    http: HttpConfig = Field(default_factory=HttpConfig)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    reply_tracking: ReplyTrackingConfig = Field(default_factory=ReplyTrackingConfig)
    faq: FaqConfig = Field(default_factory=FaqConfig)
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    csat: CsatConfig | None = None
    surveys: SurveysConfig = Field(default_factory=SurveysConfig)
    cases: CasesConfig = Field(default_factory=CasesConfig)
    verification: VerificationConfig | None = None
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    # Where the file was read from; relative paths inside resolve against it too.
    source: Path | None = Field(default=None, exclude=True)

    def resolve_path(self, path: Path) -> Path:
        """A relative path as given from the working directory, else next to the file."""
        if path.is_absolute() or path.exists() or self.source is None:
            return path
        beside = self.source.parent / path
        return beside if beside.exists() else path
