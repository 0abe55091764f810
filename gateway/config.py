"""The gateway's configuration: ``gateway.yaml`` validated into typed sections.

``${VAR}`` (or ``${VAR:-default}``) in any string value is read from the environment;
``GATEWAY_STORAGE_URL``, ``GATEWAY_BROKER_URL``, ``GATEWAY_HTTP_PORT`` and
``GATEWAY_SMTP_PORT`` override their keys. Any problem stops start-up with a
``ConfigError`` naming the key. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.channels.api import ApiChannelConfig
from gateway.channels.config import Duration, GuardSecret, Section
from gateway.channels.email import EmailChannelConfig, SmtpConfig
from gateway.channels.meta import InstagramConfig, MessengerConfig, WhatsAppConfig
from gateway.channels.telegram import TelegramConfig
from gateway.channels.twilio import TwilioConfig
from gateway.channels.webchat import WebchatConfig
from gateway.channels.wechat import WeChatConfig
from gateway.model import Channel
from gateway.routing.rules.yaml_lines import YamlProblem
from gateway.routing.rules.yaml_lines import load as load_yaml
from gateway.storage.sentinel import SCHEME as SENTINEL_SCHEME
from gateway.storage.sentinel import parse_sentinel_url

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config/gateway.yaml")
ENV_OVERRIDES = {
    "GATEWAY_STORAGE_URL": ("storage", "url"),
    "GATEWAY_BROKER_URL": ("broker", "url"),
    "GATEWAY_HTTP_PORT": ("http", "port"),
    "GATEWAY_SMTP_PORT": ("smtp", "port"),
}


class ConfigError(Exception):
    """A configuration problem; the message names the key."""


class HttpConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    shutdown_grace: Duration = 10.0
    # A client that has not finished its request line and headers this long after
    # connecting (or after the previous response) is disconnected; one that has not sent
    # its whole body this long after its headers gets 408. Slow clients hold nothing.
    header_timeout: Duration = 15.0
    body_timeout: Duration = 30.0

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class StorageConfig(Section):
    url: str = "memory://"
    key_prefix: str = "gw"
    dedupe_ttl: Duration = 8 * 86400.0  # providers retry up to 7 days
    # Acknowledge a write only once WAIT confirms it on this many replicas (0: the
    # primary alone), within replica_timeout; else a retryable 503 / SMTP 451.
    min_replicas: int = Field(0, ge=0, le=16)
    replica_timeout: Duration = 0.2

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value.startswith(SENTINEL_SCHEME):
            parse_sentinel_url(value)  # its ValueError names what is wrong
            return value
        if not value.startswith(("memory://", "redis://", "rediss://", "unix://")):
            raise ValueError("must be memory://, redis://host:port/db or redis+sentinel://h1:port,h2:port/service/db")
        return value

    @field_validator("min_replicas")
    @classmethod
    def _replicated(cls, value: int, info: ValidationInfo) -> int:
        if value and str(info.data.get("url", "")).startswith("memory://"):
            raise ValueError("needs Redis with replicas (storage.url redis:// or redis+sentinel://), not memory://")
        return value

    @field_validator("replica_timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0")
        return value

    @field_validator("dedupe_ttl")
    @classmethod
    def _week(cls, value: float) -> float:
        if value < 7 * 86400:
            raise ValueError("must be at least 7d: WhatsApp redelivers for up to 7 days")
        return value


class BrokerConfig(Section):
    url: str = "memory://"
    # The nodes of one RabbitMQ cluster: connect to any, move to the next when it goes.
    # Given, it replaces ``url``.
    urls: list[str] = Field(default_factory=list)
    # classic: priority queues (one node); quorum: replicated queues, no priorities.
    queue_type: Literal["classic", "quorum"] = "classic"
    publish_timeout: Duration = 5.0
    # Publishes awaiting confirms at once. RabbitMQ confirms persistent messages after its
    # (batched) fsync, so the relay's rate is about inflight ÷ confirm latency: a loaded
    # broker needs a wide window to keep up with intake (BENCHMARKS.md).
    inflight: int = Field(1024, ge=1, le=10000)
    # Outbox entries a crashed process had taken are republished by another after this.
    reclaim_idle: Duration = 30.0
    # Which events go to gateway.events: "all", or a list of routing keys (patterns with
    # `*` as in `sla.*`). Offers always go to gateway.work. Each event is an AMQP message;
    # publish only what some system consumes (the console's live updates need them all).
    events: Literal["all"] | list[str] = "all"
    # Back-pressure: while the outbox holds this many entries (published not yet, or not
    # yet confirmed), new customer messages are refused with a retryable 503 / SMTP 451
    # so that providers retry later, instead of the backlog growing without bound.
    # 0 = no limit (a broker outage then only delays delivery; the outbox grows).
    outbox_limit: int = Field(0, ge=0)
    # true: a new conversation's first message travels inside ``conversation.opened`` (as
    # ``message``) instead of a ``message.inbound`` of its own — one AMQP message fewer
    # per new conversation. Later messages are ``message.inbound`` as always.
    inbound_in_opened: bool = False

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("memory://", "amqp://", "amqps://")):
            raise ValueError("must be memory:// or amqp://user:pass@host:port/vhost")
        return value

    @field_validator("urls")
    @classmethod
    def _nodes(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("amqp://", "amqps://")):
                raise ValueError("each must be amqp://user:pass@host:port/vhost")
        return value

    @property
    def nodes(self) -> str | list[str]:
        """What to connect to: ``urls`` when given, else ``url``."""
        return list(self.urls) if self.urls else self.url


class RoutingConfig(Section):
    rules: Path | None = Path("config/routing.yaml")
    reload_interval: Duration = 2.0  # how often the rules file's mtime is checked
    reopen_window: Duration = 7 * 86400.0
    default_queue: str = "general"
    default_priority: int = Field(3, ge=0, le=9)


class TokenConfig(Section):
    token: SecretStr
    role: Literal["ops", "agent"]
    agent: str | None = None
    # The name people see instead of the agent id: the console, and customers next to a
    # reply (web chat). Defaults to the agent id.
    name: str | None = Field(default=None, min_length=1, max_length=80)

    @model_validator(mode="after")
    def _agent_named(self) -> TokenConfig:
        if self.role == "agent" and not self.agent:
            raise ValueError("an agent token needs `agent: <name>`")
        if len(self.token.get_secret_value()) < 8:
            raise ValueError("token must be at least 8 characters")
        return self


class AuthConfig(Section):
    tokens: list[TokenConfig] = Field(default_factory=list)
    # What agents read: "queues" (conversations of queues they can serve, assigned to
    # them or that they took part in) or "all"; ops read all (docs/security.md).
    agent_read_scope: Literal["queues", "all"] = "queues"


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


class ReplyTrackingConfig(Section):
    default: Duration = 86400.0
    warn_at: float = Field(0.8, gt=0, lt=1)
    channels: dict[Channel, Duration] = Field(default_factory=dict)
    business_hours: bool = False
    escalation_queue: str | None = None
    scan_interval: Duration = 0.25
    # How long before a messaging window closes `window.closing` fires (and priority rises).
    window_closing_lead: Duration = 3600.0

    def target_for(self, channel: Channel) -> float:
        return self.channels.get(channel, self.default)


def _faq_channels() -> list[Channel]:
    return [
        Channel.WEBCHAT,
        Channel.WHATSAPP,
        Channel.MESSENGER,
        Channel.INSTAGRAM,
        Channel.TELEGRAM,
        Channel.WECHAT,
        Channel.SMS,
        Channel.API,
    ]


class FaqConfig(Section):
    """Self-service answers (``gateway.selfservice.service``); off without ``file``."""

    file: Path | None = None
    channels: list[Channel] = Field(default_factory=_faq_channels)
    email: bool = False  # email gets FAQ answers only when on (never loop-guarded mail)
    handoff_keywords: list[str] = Field(default_factory=lambda: ["人工", "转人工", "客服", "agent", "human", "person"])
    # A message made only of these ("好的，谢谢！") keeps a self-service conversation quiet.
    acknowledgements: list[str] = Field(
        default_factory=lambda: [
            "谢谢", "多谢", "感谢", "好的", "好", "嗯", "明白", "明白了", "知道了", "收到", "可以了", "解决了",
            "thanks", "thank you", "thx", "ok", "okay", "got it", "great", "cool", "👍", "🙏",
        ]
    )  # fmt: skip
    hint: str = '回复“人工”转人工客服 / Reply "agent" to talk to a person.'
    handoff_reply: str = "好的，正在为您转接人工客服，请稍候。/ OK, we are connecting you to a person, please hold on."
    # Added to the handoff confirmation from live queue data ({ahead}, {position}, {minutes}).
    queue_position: str = "您前面还有 {ahead} 位客户在等待。/ You are number {position} in the queue."
    queue_next: str = "您是下一位。/ You are next in the queue."
    expected_wait: str = "预计等待约 {minutes} 分钟。/ The expected wait is about {minutes} min."
    nobody_online: str = (
        "目前暂无客服在线，客服上线后会尽快回复您。/ No agent is online right now; one will answer as soon as they are."
    )
    max_answers: int = Field(3, ge=1, le=20)  # FAQ answers in one self-service episode before a person takes over
    max_chars: int = Field(300, ge=10, le=20_000)  # longer first messages go to a person
    idle_resolve: Duration = 1800.0  # quiet this long after an answer: resolved as deflected
    reload_interval: Duration = 2.0

    @field_validator("handoff_keywords")
    @classmethod
    def _some_handoff(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value if v.strip()]
        if not cleaned:
            raise ValueError("needs at least one keyword, or customers cannot reach a person")
        return cleaned


class CsatConfig(Section):
    """Rating requests after a person resolved a conversation (``gateway.selfservice.ratings``);
    off without the section or with ``enabled: false``."""

    enabled: bool = True
    window: Duration = 86400.0  # replies 1–5 within this time of the resolve count as the rating
    prompt: str = (
        "请为本次服务评分：回复 1-5 的数字（5 为非常满意），数字后可附上您的意见。\n"
        "Please rate our service: reply with a number from 1 to 5 (5 = excellent); you may add a comment after it."
    )
    thanks: str = "感谢您的评价！/ Thank you for your feedback!"  # "" = no thanks message

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class SurveysConfig(Section):
    """Satisfaction surveys sent by themselves (``gateway.reports.surveys``): every ``every``
    (aligned to Mondays 00:00 UTC) to the contacts active in the period just ended; without
    ``every`` only ops send them (POST /api/v1/surveys)."""

    every: Duration | None = None  # e.g. 7d: each Monday, for the week before
    channels: list[Channel] = Field(default_factory=list)  # empty: every channel
    question: str | None = Field(None, max_length=1000)  # None: the standard bilingual question


class KnowledgeConfig(Section):
    """The knowledge base agents search for canned replies (``gateway.selfservice.knowledge``);
    the FAQ's entries count as articles, with or without ``file``."""

    file: Path | None = None  # YAML ``articles:`` [{id, title, body, tags, language}]
    reload_interval: Duration = 2.0


class CasesConfig(Section):
    """Complaints and feedback as cases (``gateway.cases``); off without ``file``."""

    file: Path | None = None  # the workflow file: categories, deadlines, customer texts
    reload_interval: Duration = 2.0
    # How long case records are kept. Nothing expires them: cases have no TTL in storage;
    # this documents the commitment (payment institutions keep complaint records ≥ 3 years).
    retention: Duration = 3 * 365 * 86400.0

    @field_validator("retention")
    @classmethod
    def _three_years(cls, value: float) -> float:
        if value < 3 * 365 * 86400:
            raise ValueError("must be at least 3 years (1095d): complaint records are kept that long")
        return value


class VerificationConfig(Section):
    """Identity verification for sensitive matters (``gateway.verification``); off without
    the section. Codes go by SMS or email through the outbound service; web chat visitors
    may arrive verified with a signed JWT (``webchat_jwt_secret``)."""

    code_length: int = Field(6, ge=4, le=10)
    ttl: Duration = 600.0  # a code is good this long
    max_attempts: int = Field(5, ge=1, le=20)  # wrong answers that lock the code
    resend_after: Duration = 60.0  # no new code for the contact before this
    via: list[Literal["sms", "email"]] = Field(default_factory=lambda: ["sms", "email"], min_length=1)
    valid_for: Duration = 1800.0  # a verification counts this long
    # Keys the codes' salted hashes and rebuilds a code when it is sent: every gateway
    # process must have the same. Without it, one is derived from webchat_jwt_secret or
    # an auth token.
    secret: GuardSecret | None = None
    webchat_jwt_secret: GuardSecret | None = None
    jwt_leeway: Duration = 30.0  # clock skew allowed on a JWT's exp / nbf / iat
    # Codes sent per contact and per destination (phone number, mailbox) within send_window.
    max_sends_per_contact: int = Field(5, ge=1)
    max_sends_per_destination: int = Field(5, ge=1)
    send_window: Duration = 3600.0
    keep: Duration = 7 * 86400.0  # a record is kept this long after its last change

    @field_validator("webchat_jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (an HS256 key shorter than its hash is weak)")
        return value

    @field_validator("ttl", "valid_for", "send_window", "keep")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0")
        return value


class IdentityConfig(Section):
    # Region used to read phone numbers given without a country code (e.g. "CN").
    default_region: str | None = None


class LogConfig(Section):
    level: str = "INFO"
    format: Literal["json", "text"] = "json"


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


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(node: Any, env: dict[str, str], where: str) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, f"{where}.{i}") for i, v in enumerate(node)]
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{where}: environment variable {name} is not set")

        return _VAR.sub(replace, node)
    return node


def secret_values(model: BaseModel) -> list[str]:
    """Every secret in the configuration, for the log scrubber."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, SecretStr):
                found.append(item.get_secret_value())
            elif isinstance(item, BaseModel):
                found += secret_values(item)
    return found


def _unknown_keys(model: BaseModel, where: str = "") -> list[str]:
    found = [f"{where}{k}" for k in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Section):
            found += _unknown_keys(value, f"{where}{name}.")
    return found


def load_config(path: Path | str | None = None, env: dict[str, str] | None = None) -> GatewayConfig:
    """Read, interpolate, override and validate; raise ``ConfigError`` naming the key."""
    env = dict(os.environ if env is None else env)
    if path is None:
        path = env.get("GATEWAY_CONFIG") or DEFAULT_CONFIG_PATH
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file") from exc
    except YamlProblem as exc:  # syntax, or aliases past the budget (gateway.routing.rules.yaml_lines)
        raise ConfigError(exc.located(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return config_from_dict(raw, env=env, source=path)


def config_from_dict(
    raw: dict[str, Any], *, env: dict[str, str] | None = None, source: Path | None = None
) -> GatewayConfig:
    env = dict(os.environ if env is None else env)
    data = _interpolate(raw, env, "")
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            sect = data.get(section)
            if sect is None:
                sect = data[section] = {}
            if not isinstance(sect, dict):
                raise ConfigError(f"{section}: must be a mapping")
            sect[key] = env[var]
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{key}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from None
    config.source = source
    for key in _unknown_keys(config):
        log.warning("unknown config key %s (ignored)", key)
    _check_dev_tokens(config)
    _check_faq(config)
    _check_knowledge(config)
    _check_cases(config)
    return config


def _check_knowledge(config: GatewayConfig) -> None:
    """A bad knowledge file stops start-up (later, a bad edit keeps the old articles)."""
    if config.knowledge.file is None:
        return
    from gateway.selfservice.knowledge import KnowledgeError, load_knowledge

    try:
        load_knowledge(config.resolve_path(config.knowledge.file))
    except KnowledgeError as exc:
        raise ConfigError("knowledge.file: " + "; ".join(exc.problems)) from None


def _check_faq(config: GatewayConfig) -> None:
    """A bad FAQ file stops start-up (later, a bad edit keeps the old answers)."""
    if config.faq.file is None:
        return
    from gateway.selfservice.faq_book import FaqError, load_faq

    try:
        load_faq(config.resolve_path(config.faq.file))
    except FaqError as exc:
        raise ConfigError("faq.file: " + "; ".join(exc.problems)) from None


def _check_cases(config: GatewayConfig) -> None:
    """A bad workflow file stops start-up (later, a bad edit keeps the workflow in force)."""
    if config.cases.file is None:
        return
    from gateway.cases.workflow_file import WorkflowError, load_workflow

    try:
        load_workflow(config.resolve_path(config.cases.file))
    except WorkflowError as exc:
        raise ConfigError("cases.file: the workflow file cannot be used:\n" + "\n".join(exc.errors)) from None


def _check_dev_tokens(config: GatewayConfig) -> None:
    """The shipped example tokens only ever guard a gateway listening on loopback."""
    loopback = config.http.host in {"127.0.0.1", "localhost", "::1"}
    for i, token in enumerate(config.auth.tokens):
        if token.token.get_secret_value().endswith("-dev-token") and not loopback:
            raise ConfigError(
                f"auth.tokens.{i}.token: the example development token may only be used with "
                f"http.host on loopback; set a real token"
            )
