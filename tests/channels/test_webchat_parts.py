"""Web chat parts without a socket: tokens, frames, limits, config, and the Redis bus."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.channel_setup import webchat_token_key
from gateway.channels.webchat import VisitorTokens, derive_token_key
from gateway.channels.webchat.frames import FrameError, Hello, Send, parse_frame
from gateway.channels.webchat.limits import ConnectionCounter, OriginPolicy, TokenBucket
from gateway.config import ConfigError
from gateway.webchat_bus import RedisBus
from tests.conftest import REDIS_URL, eventually
from tests.helpers import gateway_config
from tests.servers import PrivateRedis

KEY = derive_token_key("a-secret-for-tests")


def test_a_token_names_its_visitor_and_survives_a_round_trip() -> None:
    tokens = VisitorTokens(KEY)
    visitor, token = tokens.mint()
    assert tokens.verify(token) == visitor and token == tokens.issue(visitor)
    assert "a-secret-for-tests" not in repr(tokens) and repr(KEY) not in repr(tokens)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t, other: t.replace(t.split(".")[1], other),  # another visitor's id, this signature
        lambda t, other: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t, other: t + "=",
        lambda t, other: t.upper(),
        lambda t, other: "wc1." + t.split(".")[1] + ".",
        lambda t, other: "",
        lambda t, other: "wc1.." + t.split(".")[2],
        lambda t, other: t * 20,
    ],
)
def test_an_edited_token_names_nobody(mangle) -> None:  # type: ignore[no-untyped-def]
    tokens = VisitorTokens(KEY)
    _, token = tokens.mint()
    other, _ = tokens.mint()
    assert tokens.verify(mangle(token, other)) is None


def test_tokens_of_another_key_are_refused_and_non_strings_too() -> None:
    _, token = VisitorTokens(derive_token_key("other-secret")).mint()
    assert VisitorTokens(KEY).verify(token) is None
    for junk in (None, 42, ["wc1"], {"token": token}):
        assert VisitorTokens(KEY).verify(junk) is None


def test_the_token_key_comes_from_token_secret_else_the_api_secret_else_an_ops_token() -> None:
    own = gateway_config(channels={"webchat": {"token_secret": "webchat-only-secret"}})
    assert webchat_token_key(own) == derive_token_key("webchat-only-secret")
    from_api = gateway_config(channels={"webchat": {}})
    assert webchat_token_key(from_api) == derive_token_key(from_api.channels.api.secret.get_secret_value())
    from_ops = gateway_config(channels={"webchat": {}, "api": None})
    ops = next(t for t in from_ops.auth.tokens if t.role == "ops").token.get_secret_value()
    assert webchat_token_key(from_ops) == derive_token_key(ops)
    assert derive_token_key(ops) != ops.encode()  # never the secret itself


def test_webchat_config_refuses_placeholders_and_paths_in_origins() -> None:
    with pytest.raises(ConfigError, match=r"channels\.webchat\.token_secret"):
        gateway_config(channels={"webchat": {"token_secret": "changeme"}})
    with pytest.raises(ConfigError, match=r"channels\.webchat\.allowed_origins"):
        gateway_config(channels={"webchat": {"allowed_origins": ["https://shop.example.com/path"]}})
    with pytest.raises(ConfigError, match=r"channels\.webchat\.messages_per_second"):
        gateway_config(channels={"webchat": {"messages_per_second": 0}})
    config = gateway_config(channels={"webchat": {"allowed_origins": ["HTTPS://Shop.Example.com/"]}})
    assert config.channels.webchat.allowed_origins == ["https://shop.example.com"]
    assert "webchat-only" not in repr(gateway_config(channels={"webchat": {"token_secret": "webchat-only-x"}}))


def test_frames_parse_into_types_with_chinese_text_intact() -> None:
    frame = parse_frame(
        json.dumps({"type": "message", "id": "a-1", "text": "我的卡被扣款两次 🙁"}, ensure_ascii=False),
        max_bytes=1024,
        max_chars=20,
    )
    assert frame == Send(id="a-1", text="我的卡被扣款两次 🙁")
    hello = parse_frame(
        json.dumps({"type": "hello", "email": "bad", "language": "zh-Hans-CN", "page": "javascript:alert(1)"}),
        max_bytes=1024,
        max_chars=20,
    )
    assert isinstance(hello, Hello) and hello.email is None and hello.page is None and hello.language == "zh-hans-cn"


def test_the_byte_limit_counts_utf8_bytes_not_characters() -> None:
    text = json.dumps({"type": "message", "id": "a", "text": "中" * 400}, ensure_ascii=False)
    assert len(text) < 1024 < len(text.encode())
    with pytest.raises(FrameError) as caught:
        parse_frame(text, max_bytes=1024, max_chars=4000)
    assert caught.value.code == "too_large"


def test_origins_match_exactly_or_by_star() -> None:
    policy = OriginPolicy(["https://shop.example.com"])
    assert policy.allows("https://shop.example.com") and policy.allows("https://SHOP.example.com/")
    for origin in (None, "", "null", "https://shop.example.com.evil.io", "http://shop.example.com"):
        assert not policy.allows(origin)
    assert OriginPolicy(["*"]).allows("https://anything.example") and not OriginPolicy(["*"]).allows(None)


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() == 0 and bucket.take() > 0


def test_connections_are_counted_per_address() -> None:
    counter = ConnectionCounter(2)
    assert counter.acquire("a") and counter.acquire("a") and not counter.acquire("a") and counter.acquire("b")
    counter.release("a")
    assert counter.acquire("a") and counter.total() == 3


# --- the Redis bus ------------------------------------------------------------------


async def test_the_redis_bus_carries_frames_between_two_buses_of_one_prefix_only(redis_prefix: str) -> None:
    got_a: list[tuple[str, str]] = []
    got_b: list[tuple[str, str]] = []
    stranger: list[tuple[str, str]] = []
    a = RedisBus(REDIS_URL, prefix=redis_prefix)
    b = RedisBus(REDIS_URL, prefix=redis_prefix)
    other = RedisBus(REDIS_URL, prefix=redis_prefix + "-other")
    await a.start(lambda v, f: got_a.append((v, f)), lambda: None)
    await b.start(lambda v, f: got_b.append((v, f)), lambda: None)
    await other.start(lambda v, f: stranger.append((v, f)), lambda: None)
    try:
        await b.publish("v_1", '{"text":"你好"}')
        await eventually(lambda: got_a and got_b)
        assert got_a == got_b == [("v_1", '{"text":"你好"}')]
        await asyncio.sleep(0.2)
        assert stranger == []
    finally:
        for bus in (a, b, other):
            await bus.close()


async def test_the_redis_bus_reports_an_outage_and_resyncs_after_it() -> None:
    from gateway.channels.webchat import BusUnavailable

    server = PrivateRedis(appendfsync="no")
    server.start()
    got: list[str] = []
    resyncs: list[int] = []
    bus = RedisBus(server.url, prefix="gwt-bus", ping_interval=0.5, socket_timeout=1.0)
    try:
        await bus.start(lambda v, f: got.append(f), lambda: resyncs.append(1))
        assert bus.subscribed.is_set()
        server.kill()
        with pytest.raises(BusUnavailable):
            await bus.publish("v_1", "lost")
        server.start()  # same port, same data directory
        await eventually(lambda: resyncs, timeout=15)
        await bus.publish("v_1", "after")
        await eventually(lambda: got == ["after"])
    finally:
        await bus.close()
        server.stop()
