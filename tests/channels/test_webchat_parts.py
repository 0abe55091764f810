"""Web chat parts without a socket: tokens, frames, limits, config, and the Redis bus."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.channels.webchat import VisitorTokens, derive_token_key, token_key
from gateway.channels.webchat.frames import (
    MAX_DEPTH,
    Delivered,
    FrameError,
    Hello,
    Identify,
    Send,
    Simple,
    parse_frame,
)
from gateway.channels.webchat.limits import ConnectionCounter, OriginPolicy, TokenBucket
from gateway.config import ConfigError, GatewayConfig
from gateway.model import Identity
from gateway.wiring.channel_setup import other_secrets
from gateway.wiring.webchat_bus import RedisBus
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


def webchat_token_key(config: GatewayConfig) -> bytes:
    assert config.channels.webchat is not None
    return token_key(config.channels.webchat, other_secrets(config))


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
    assert "webchat-only" not in repr(gateway_config(channels={"webchat": {"token_secret": "webchat-only-x-0"}}))


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


def parse(data: str, *, max_bytes: int = 64 * 1024, max_chars: int = 4000) -> Any:
    return parse_frame(data, max_bytes=max_bytes, max_chars=max_chars)


def refused(data: str, **limits: int) -> FrameError:
    with pytest.raises(FrameError) as caught:
        parse(data, **limits)
    return caught.value


def test_nesting_is_refused_before_parsing_but_brackets_in_strings_are_text() -> None:
    deep = "[" * 5000 + "]" * 5000
    assert refused('{"type":"ping","x":' + deep + "}").code == "too_deep"
    assert refused("{" * 10_000).code == "too_deep"  # unclosed: json.loads would recurse all the same
    assert refused('{"a":' * 3000).code == "too_deep"
    ok = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert parse('{"type":"ping","x":' + ok + "}") == Simple(type="ping")
    too = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert refused('{"type":"ping","x":' + too + "}").code == "too_deep"
    text = '[{\\"]' * 700  # escaped quotes and backslashes inside the string
    assert parse(json.dumps({"type": "message", "id": "b", "text": text})) == Send(id="b", text=text)
    assert refused('{"type":"message","id":"b","text":"[[[[' + "[" * 100).code == "malformed"


def test_odd_values_get_frame_errors_not_exceptions() -> None:
    cases = {
        '{"type":"message","id":"a","text":' + "9" * 5000 + "}": "malformed",  # over Python's int digits limit
        '{"type":"ping","x":NaN}': "malformed",
        '{"type":"ping","x":-Infinity}': "malformed",
        '{"type":1e999}': "malformed",  # out of float range: not interoperable JSON
        '{"type":["message"]}': "unknown_type",
        '{"type":{"a":[1,2]}}': "unknown_type",
        '{"type":"message","id":"c-1\\n","text":"x"}': "invalid_id",  # $ alone would allow a trailing newline
        '{"type":"message","id":1e308,"text":"x"}': "invalid_id",
        '{"type":"message","id":"c","text":"\\u0000\\u0000"}': "empty",
        '{"type":"delivered","id":"msg_00000000000000000000000000\\n"}': "invalid_id",
        '{"type":"identify","name":["x"]}': "invalid",
        '{"type":"identify","email":"a\\u0000@example.com"}': "invalid_email",
        '{"type":"identify","email":"a\\ud800@example.com"}': "invalid_email",
        '{"type":"identify","email":12345678901234567890}': "invalid_email",
        '"\\ud800"': "malformed",
    }
    for data, code in cases.items():
        error = refused(data)
        assert error.code == code, data
        error.frame().encode()  # the error frame itself can always be sent


def test_lone_surrogates_become_replacement_characters_in_every_field() -> None:
    send = parse(r'{"type":"message","id":"s","text":"a\ud800b\udc00\ud800 \ud83d\ude00\u0000"}')
    assert send == Send(id="s", text="a\ufffdb\ufffd\ufffd 😀")
    hello = parse(
        r'{"type":"hello","token":"wc1.\ud800","name":"\udbff  Li\u0007\nWei ","email":"li\udfff@example.com",'
        r'"language":"en\n","page":"https://shop.example.com/a\ud800\u0000b?q=\ud800"}'
    )
    assert hello == Hello(
        token="wc1.\ufffd", name="\ufffd Li Wei", email=None, language=None, page="https://shop.example.com/a\ufffdb"
    )  # the token is the token check's to refuse (it names nobody)
    identify = parse(r'{"type":"identify","name":"\ud800","email":" LI@Example.com "}')
    assert identify == Identify(name="\ufffd", email=Identity(kind="email", value="li@example.com"))
    assert VisitorTokens(KEY).verify(hello.token) is None


def test_a_token_with_non_ascii_or_a_trailing_newline_names_nobody() -> None:
    tokens = VisitorTokens(KEY)
    visitor, token = tokens.mint()
    _, _, signature = token.split(".")
    for junk in (token + "\ud800", token.replace(".", ".\ud800", 1), token + "é", f"wc1.{visitor}\n.{signature}"):
        assert tokens.verify(junk) is None


# --- fuzzing the frame parser -------------------------------------------------------

# Text as a browser's JSON.stringify can spell it: any code point, lone surrogates included.
odd_text = st.text(
    st.one_of(st.characters(), st.characters(categories=["Cs", "Cc", "Cf"]), st.sampled_from('[]{}\\"')),
    max_size=30,
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and Infinity too: json.dumps writes them, JSON has no such thing
    odd_text,
    st.sampled_from(["", " ", "c-1", "msg_01HZY0000000000000000000AB", "li@example.cn", "zh-CN", "付款", "\ud800"]),
)
values = st.recursive(
    leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(odd_text, c, max_size=3), max_leaves=8
)
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "message", "identify", "delivered", "history", "typing", "ping"]) | values},
    optional={key: values for key in ("id", "text", "token", "name", "email", "language", "page")},
)
# Raw JSON a serializer would not write: huge numbers, constants, deep or unclosed nesting.
raw_values = st.one_of(
    st.sampled_from(
        ["9" * 5000, "-" + "1" * 4301, "1e999", "-1e-999", "NaN", "Infinity", '"\\ud800"', '"\\udc00\\ud800"']
    ),
    st.integers(min_value=1, max_value=6000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=1, max_value=6000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(min_value=1, max_value=6000).map(lambda n: "[" * n),
)


@st.composite
def frame_texts(draw: Any) -> str:
    """A frame's text: a mangled frame, one with a raw JSON value put in, or random text."""
    kind = draw(st.sampled_from(["frame", "raw", "text"]))
    if kind == "text":
        return draw(odd_text)
    doc = draw(frames)
    if kind == "raw":
        key = draw(st.sampled_from(["type", "id", "text", "name", "email", "token", "page", "extra"]))
        doc[key] = "\x00RAW\x00"
        return json.dumps(doc).replace('"\\u0000RAW\\u0000"', draw(raw_values))
    data = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    cut = draw(st.integers(min_value=0, max_value=len(data)))
    return data[:cut] if draw(st.booleans()) else data


def strings_in(frame: Any) -> list[str]:
    found = []
    for field in dataclasses.fields(frame):
        value = getattr(frame, field.name)
        found.append(value.value if isinstance(value, Identity) else value)
    return [v for v in found if isinstance(v, str)]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=frame_texts(), max_bytes=st.sampled_from([64, 2048, 64 * 1024]))
def test_fuzzed_frames_parse_or_raise_frame_error_and_nothing_else(data: str, max_bytes: int) -> None:
    try:
        frame = parse_frame(data, max_bytes=max_bytes, max_chars=200)
    except FrameError as exc:  # the only exception parse_frame may raise
        body = json.loads(exc.frame().encode())  # … and its error frame can be sent
        assert body["type"] == "error" and body["code"] and "retry_after" not in body
        return
    assert isinstance(frame, Hello | Send | Identify | Simple | Delivered)
    for text in strings_in(frame):
        text.encode()  # storable and sendable: no lone surrogates left
        assert "\x00" not in text or (isinstance(frame, Hello) and text == frame.token)
    if isinstance(frame, Send):
        assert frame.text.strip() and len(frame.text) <= 200


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
        # Redis delivers in the order it took the publishes: once the other prefix's own
        # frame has arrived there, anything of ours that leaked would have arrived before it.
        await other.publish("v_2", "{}")
        await eventually(lambda: stranger)
        assert stranger == [("v_2", "{}")]
        assert ("v_2", "{}") not in got_a + got_b
    finally:
        for bus in (a, b, other):
            await bus.close()


@pytest.mark.redis  # a private redis-server of its own
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
        await eventually(lambda: resyncs, timeout=30)
        await bus.publish("v_1", "after")
        await eventually(lambda: got == ["after"])
    finally:
        await bus.close()
        server.stop()
