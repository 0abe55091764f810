"""Ops patterns (a rule's ``regex:``) run on RE2: what it cannot compile is refused with
PATH:LINE by ``rules check``, on reload and on PUT (422); a pattern that backtracks
exponentially in Python's ``re`` runs in linear time on a customer's message."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.app import build_app
from gateway.cli import main
from gateway.routing.publisher import MemoryPublisher
from gateway.routing.rules import rules_version
from gateway.routing.rules.patterns import PatternRefused, compile_pattern
from gateway.storage.base import Store
from tests.channels.test_webchat import ORIGIN, Visitor, conversation_of
from tests.conftest import eventually
from tests.helpers import auth, gateway_config
from tests.routing.conftest import BASE_RULES
from tests.routing.test_reload import manager_for, rejections, write

ORDER_REGEX = "regex: 'order\\s*#?\\d{6,}'"
REFUSED = {
    "backreference": "(\\w+) \\1",
    "lookahead": "refund(?=ed)",
    "negative lookbehind": "(?<!no )refund",
    "huge repetition": "a{2000}",
    "unclosed group": "order (\\d+",
}


def rules_with(pattern: str) -> tuple[str, int]:
    """The base rules with the order-lookup rule's pattern replaced, and that line."""
    assert ORDER_REGEX in BASE_RULES
    text = BASE_RULES.replace(ORDER_REGEX, f"regex: '{pattern}'")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip().startswith(f"regex: '{pattern}'"))
    return text, line


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_rules_check_refuses_what_re2_cannot_compile_with_path_and_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, line = rules_with(REFUSED[kind])
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["rules", "check", str(path)]) == 1
    [error] = capsys.readouterr().out.splitlines()
    assert error.startswith(f"{path}:{line}: rule 'order-lookup': regex: bad regular expression ")
    assert ": RE2: " in error


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|aa)+$", "(x+x+)+y", "(.*a){12}"])
def test_patterns_that_backtrack_in_python_run_in_linear_time(pattern: str) -> None:
    compiled = compile_pattern(pattern)
    for text in ("a" * 34 + "!", "x" * 5000, "a" * 100_000 + "b"):
        compiled.search(text)  # Python's re would take hours on the first


def test_a_pattern_too_long_is_refused() -> None:
    with pytest.raises(PatternRefused):
        compile_pattern("a" * 5000)


async def test_a_reload_refuses_a_pattern_re2_cannot_compile(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "routing.yaml"
    write(path, BASE_RULES)
    manager = manager_for(path, MemoryPublisher())
    before = manager.holder.current
    text, line = rules_with(REFUSED["lookahead"])
    watcher = asyncio.create_task(manager.watch())
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.routing.reload"):
            await asyncio.to_thread(write, path, text)
            await eventually(lambda: rejections(caplog))
        [error] = rejections(caplog)[0].errors  # type: ignore[attr-defined]
        assert error.startswith(f"{path}:{line}: rule 'order-lookup': regex: bad regular expression 'refund(?=ed)'")
        assert manager.holder.current is before
    finally:
        watcher.cancel()


@pytest.fixture
async def chat(aiohttp_client: Any, store: Store, tmp_path: Path) -> Any:
    path = tmp_path / "routing.yaml"
    path.write_text(BASE_RULES, encoding="utf-8")
    config = gateway_config(
        routing={"rules": str(path), "reload_interval": "1h"}, channels={"webchat": {"allowed_origins": [ORIGIN]}}
    )
    client = await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))
    client.rules_path = path
    return client


async def test_put_refuses_a_pattern_re2_cannot_compile_with_422(chat: Any) -> None:
    text, line = rules_with(REFUSED["backreference"])
    resp = await chat.put("/api/v1/routing/rules", data=text.encode(), headers=auth())
    assert resp.status == 422
    [error] = (await resp.json())["error"]["errors"]
    assert error.startswith(f"{chat.rules_path}:{line}: rule 'order-lookup': regex: bad regular expression")
    current = await (await chat.get("/api/v1/routing/rules", headers=auth())).json()
    assert current["version"] == rules_version(BASE_RULES)


async def test_a_catastrophic_pattern_does_not_freeze_the_gateway_on_an_anonymous_chat(chat: Any) -> None:
    text, _ = rules_with("(a+)+$")
    resp = await chat.put("/api/v1/routing/rules", data=text.encode(), headers=auth())
    assert resp.status == 200, await resp.text()  # RE2 runs it linearly, so it may stay
    tab = Visitor(chat)
    await tab.hello()
    ack = await tab.say("c-1", "a" * 33 + "!")  # 34 characters: 2^34 steps for Python's re
    assert ack["type"] == "ack"
    assert (await chat.get("/healthz")).status == 200
    conversation = await conversation_of(chat, tab.visitor_id)
    assert conversation["messages"][0]["text"] == "a" * 33 + "!"
    await tab.close()
