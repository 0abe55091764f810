"""Configuration: interpolation, overrides, errors that name the key, secrets that never print."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.config import ConfigError, config_from_dict, load_config


def test_embedded_defaults_load_without_environment() -> None:
    config = load_config(Path("config/gateway.yaml"), env={})
    assert config.storage.url == "memory://" and config.broker.url == "memory://"
    assert config.http.port == 8080 and config.smtp.port == 2525
    assert config.channels.api is not None and config.channels.twilio is None
    assert config.reply_tracking.default == 86400 and config.reply_tracking.target_for("webchat") == 600


def test_variables_are_interpolated_with_defaults() -> None:
    raw = {"channels": {"api": {"secret": "${API_SECRET}", "callback_url": "https://${HOST:-crm.example.com}/cb"}}}
    config = config_from_dict(raw, env={"API_SECRET": "s3cr3t-value-0123"})
    assert config.channels.api.secret.get_secret_value() == "s3cr3t-value-0123"
    assert config.channels.api.callback_url == "https://crm.example.com/cb"


def test_unset_variable_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"channels\.api\.secret: environment variable API_SECRET is not set"):
        config_from_dict({"channels": {"api": {"secret": "${API_SECRET}"}}}, env={})


def test_the_four_environment_overrides_win() -> None:
    env = {
        "GATEWAY_STORAGE_URL": "redis://127.0.0.1:6379/3",
        "GATEWAY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "GATEWAY_HTTP_PORT": "9090",
        "GATEWAY_SMTP_PORT": "2626",
    }
    config = config_from_dict({"http": {"port": 8080}}, env=env)
    assert (config.storage.url, config.broker.url, config.http.port, config.smtp.port) == (
        "redis://127.0.0.1:6379/3",
        "amqp://guest:guest@127.0.0.1:5672/",
        9090,
        2626,
    )


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"http": {"port": "eighty"}}, "http.port"),
        ({"storage": {"url": "postgres://x"}}, "storage.url"),
        ({"storage": {"dedupe_ttl": "1d"}}, "storage.dedupe_ttl"),
        ({"reply_tracking": {"default": "soon"}}, "reply_tracking.default"),
        ({"reply_tracking": {"channels": {"pigeon": "1h"}}}, "reply_tracking.channels.pigeon"),
        ({"auth": {"tokens": [{"token": "long-enough-token", "role": "agent"}]}}, "auth.tokens.0"),
        ({"channels": {"twilio": {"account_sid": "AC1", "auth_token": "..."}}}, "channels.twilio.auth_token"),
        ({"channels": {"telegram": {"bot_token": "123:abc"}}}, "channels.telegram.secret_token"),
        # Secrets that alone guard an endpoint: 16 characters at least (one is guessed at once).
        ({"channels": {"api": {"secret": "x"}}}, "channels.api.secret"),
        (
            {"channels": {"telegram": {"bot_token": "123:abc", "secret_token": "123456789012345"}}},
            "channels.telegram.secret_token",
        ),
        ({"channels": {"twilio": {"account_sid": "AC1", "auth_token": "short-token"}}}, "channels.twilio.auth_token"),
        ({"channels": {"webchat": {"token_secret": "0123456789"}}}, "channels.webchat.token_secret"),
        ({"verification": {"secret": "abc"}}, "verification.secret"),
        (
            {
                "channels": {
                    "wechat": {
                        "token": "t0ken-0123456789",
                        "app_id": "wx1",
                        "app_secret": "s3cret",
                        "encoding_aes_key": "k",
                    }
                }
            },
            "channels.wechat.encoding_aes_key",
        ),
    ],
)
def test_errors_name_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, env={})
    assert str(err.value).startswith(key), str(err.value)


def test_yaml_syntax_error_points_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("http:\n  port: 8080\n  host: [unclosed\n")
    with pytest.raises(ConfigError, match=r"gateway\.yaml:\d+: not valid YAML"):
        load_config(path, env={})


def test_secrets_never_print() -> None:
    config = config_from_dict(
        {
            "auth": {"tokens": [{"token": "tok-very-secret-1", "role": "ops"}]},
            "channels": {"api": {"secret": "api-very-secret-2"}},
        },
        env={},
    )
    shown = repr(config) + str(config) + config.model_dump_json()
    assert "tok-very-secret-1" not in shown and "api-very-secret-2" not in shown


def test_example_dev_tokens_are_refused_off_loopback() -> None:
    raw = {"http": {"host": "0.0.0.0"}, "auth": {"tokens": [{"token": "ops-dev-token", "role": "ops"}]}}
    with pytest.raises(ConfigError, match=r"auth\.tokens\.0\.token"):
        config_from_dict(raw, env={})


def test_unknown_keys_are_warned_about_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config_from_dict({"http": {"prot": 1}}, env={})
    assert "unknown config key http.prot" in caplog.text


def test_the_container_config_loads_with_secrets_from_the_environment() -> None:
    env = {"OPS_TOKEN": "ops-token-123456", "ALICE_TOKEN": "alice-token-123456", "API_SECRET": "api-secret-123456"}
    config = load_config(Path("config/gateway.docker.yaml"), env=env)
    assert config.http.host == "0.0.0.0" and config.storage.url.startswith("redis://")
    with pytest.raises(ConfigError, match="OPS_TOKEN"):
        load_config(Path("config/gateway.docker.yaml"), env={})


def test_the_high_availability_example_is_a_valid_configuration() -> None:
    """docs/examples/ha/gateway.yaml (the compose file's gateways use it) loads as written."""
    root = Path(__file__).resolve().parents[1]
    env = {"OPS_TOKEN": "o" * 24, "ALICE_TOKEN": "a" * 24, "API_SECRET": "s" * 24, "RABBITMQ_PASSWORD": "pw"}
    config = load_config(root / "docs/examples/ha/gateway.yaml", env=env)
    assert config.storage.url.startswith("redis+sentinel://") and config.storage.min_replicas == 1
    assert len(config.broker.urls) == 3 and config.broker.queue_type == "quorum"
