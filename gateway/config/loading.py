"""Reading ``gateway.yaml``: ``${VAR}`` interpolation, environment overrides, validation
into ``GatewayConfig`` and the start-up checks of the files it names; ``ConfigError``."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from gateway.channels.config import Section
from gateway.config.root import GatewayConfig
from gateway.routing.rules.yaml_lines import YamlProblem
from gateway.routing.rules.yaml_lines import load as load_yaml

log = logging.getLogger("gateway.config")

DEFAULT_CONFIG_PATH = Path("config/gateway.yaml")
ENV_OVERRIDES = {
    "GATEWAY_STORAGE_URL": ("storage", "url"),
    "GATEWAY_BROKER_URL": ("broker", "url"),
    "GATEWAY_HTTP_PORT": ("http", "port"),
    "GATEWAY_SMTP_PORT": ("smtp", "port"),
}


class ConfigError(Exception):
    """A configuration problem; the message names the key."""


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
