"""What a channel's config section is made of, and what its builder is given.

Each channel package owns its section of ``gateway.yaml`` (``channels.<name>``) as a
pydantic model in its ``config`` module, and a ``build(config, ctx)`` beside its adapter.
``gateway.config`` composes the sections; ``gateway.wiring.channel_setup`` calls the
builders. The building blocks here are shared with the rest of ``gateway.config``, so
that unknown keys are reported and secrets never print the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr

from gateway.model import parse_duration

if TYPE_CHECKING:
    from gateway.channels.base import InboundSink
    from gateway.channels.meta.watermarks import ConversationReader
    from gateway.channels.webchat.ports import ReplyBus, VisitorHistory
    from gateway.channels.wechat.tokens import SharedValues

# Values that are clearly copied from an example and must never guard a real endpoint.
PLACEHOLDER_SECRETS = {"...", "changeme", "change-me", "secret", "xxx", "todo"}


class Section(BaseModel):
    # Unknown keys are kept (and reported as warnings) rather than refused, so a newer
    # config file still starts an older gateway; typos show up in the start-up log.
    model_config = ConfigDict(extra="allow")


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _real_secret(value: SecretStr | None) -> SecretStr | None:
    if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError("is a placeholder; set a real secret")
    if value is not None and not value.get_secret_value():
        raise ValueError("is empty")
    return value


MIN_SECRET_CHARS = 16


def _long_secret(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
        raise ValueError(f"is shorter than {MIN_SECRET_CHARS} characters; a short secret can be guessed")
    return value


# YAML may read a numeric secret as an int; secrets are always text.
Secret = Annotated[SecretStr, BeforeValidator(lambda v: v if isinstance(v, SecretStr) else SecretStr(str(v)))]
RealSecret = Annotated[Secret, AfterValidator(_real_secret)]
# A secret that alone guards an endpoint (signs or checks webhooks, tokens, reply
# addresses): at least 16 characters, or the gateway refuses to start naming the key.
GuardSecret = Annotated[RealSecret, AfterValidator(_long_secret)]


def secret_text(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class OtherSecrets:
    """Secrets configured for something else, from which a channel derives a key of its
    own when its section sets none (one-way: never the secret itself)."""

    api_secret: str | None = None  # channels.api.secret
    ops_tokens: tuple[str, ...] = ()  # auth.tokens of role ops
    tokens: tuple[str, ...] = ()  # every auth token, in config order


@dataclass(frozen=True)
class BuildContext:
    """What the gateway lends a channel's ``build(config, ctx)`` besides its own section."""

    sink: InboundSink
    public_url: str  # http.public_url: the address providers call, and sign
    default_region: str | None  # identity.default_region: phone numbers without a country code
    secrets: OtherSecrets
    reader: ConversationReader  # the store's read side (Messenger/Instagram watermarks)
    shared: SharedValues  # values every gateway process sees (WeChat's access token)
    webchat_history: VisitorHistory
    open_reply_bus: Callable[[], ReplyBus]  # web chat replies between processes
