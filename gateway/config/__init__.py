"""The gateway's configuration: ``gateway.yaml`` validated into typed sections.

``${VAR}`` (or ``${VAR:-default}``) in any string value is read from the environment;
``GATEWAY_STORAGE_URL``, ``GATEWAY_BROKER_URL``, ``GATEWAY_HTTP_PORT`` and
``GATEWAY_SMTP_PORT`` override their keys. Any problem stops start-up with a
``ConfigError`` naming the key. Secrets are ``SecretStr`` so they never print.

The sections live in modules by topic (``infrastructure``, ``access``, ``conversations``,
``selfservice``, ``cases``, ``verification``), ``root`` composes them into
``GatewayConfig`` and ``loading`` reads the file; every name is importable from here.
"""

from gateway.config.access import AuthConfig, TokenConfig
from gateway.config.cases import CasesConfig
from gateway.config.conversations import IdentityConfig, ReplyTrackingConfig, RoutingConfig
from gateway.config.infrastructure import BrokerConfig, HttpConfig, LogConfig, StorageConfig
from gateway.config.loading import (
    DEFAULT_CONFIG_PATH,
    ENV_OVERRIDES,
    ConfigError,
    config_from_dict,
    load_config,
    secret_values,
)
from gateway.config.root import ChannelsConfig, GatewayConfig
from gateway.config.selfservice import CsatConfig, FaqConfig, KnowledgeConfig, SurveysConfig
from gateway.config.verification import VerificationConfig

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_OVERRIDES",
    "AuthConfig",
    "BrokerConfig",
    "CasesConfig",
    "ChannelsConfig",
    "ConfigError",
    "CsatConfig",
    "FaqConfig",
    "GatewayConfig",
    "HttpConfig",
    "IdentityConfig",
    "KnowledgeConfig",
    "LogConfig",
    "ReplyTrackingConfig",
    "RoutingConfig",
    "StorageConfig",
    "SurveysConfig",
    "TokenConfig",
    "VerificationConfig",
    "config_from_dict",
    "load_config",
    "secret_values",
]
