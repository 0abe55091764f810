"""The gateway's own plumbing: ``http``, ``storage``, ``broker`` and ``log``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from gateway.channels.config import Duration, Section
from gateway.storage.sentinel import SCHEME as SENTINEL_SCHEME
from gateway.storage.sentinel import parse_sentinel_url


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


class LogConfig(Section):
    level: str = "INFO"
    format: Literal["json", "text"] = "json"
