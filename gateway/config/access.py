"""Who may call the API: ``auth`` (its tokens and what agents read)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from gateway.channels.config import Section


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
