"""Every kind of message a provider documents is either rendered as a line an agent can
read or deliberately ignored (and counted) — never stored empty, never silently lost.

One JSON file per kind in ``payloads/<channel>/``, shaped as the provider sends it (from
its documentation and real traffic): ``body`` (what arrives), ``events`` (what the parser
must make of it) and ``ignored`` (kinds counted instead). A new kind is a new file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from multidict import MultiDict

from gateway.channels.api.parse import parse_message
from gateway.channels.meta.messenger_parse import parse_messenger
from gateway.channels.meta.whatsapp_parse import parse_whatsapp
from gateway.channels.telegram.parse import parse_update
from gateway.channels.twilio.sms_parse import parse_sms
from gateway.channels.wechat.parse import parse_push, read_xml
from gateway.model import Amendment, Channel, InboundMessage, StatusUpdate

PAYLOADS = Path(__file__).parent / "payloads"


def parse(channel: str, body: Any) -> tuple[list[Any], list[str]]:
    """(events, ignored kinds) as the channel's parser reads ``body``."""
    if channel in ("whatsapp", "messenger", "instagram"):
        batch = parse_whatsapp(body) if channel == "whatsapp" else parse_messenger(body, Channel(channel))
        assert batch.problems == []
        return batch.events, batch.ignored
    if channel == "telegram":
        update = parse_update(body, endpoint="7012345678")
        return update.events, [update.ignored] if update.ignored else []
    if channel == "api":
        return [parse_message(json.dumps(body).encode())], []
    if channel == "wechat":
        found = parse_push(read_xml(body.encode()))
        return ([], [found]) if isinstance(found, str) else ([found], [])
    if channel == "twilio":
        return [parse_sms(MultiDict(body))], []
    raise AssertionError(f"no parser for {channel}")


def samples() -> list[tuple[str, Path]]:
    return sorted((path.parent.name, path) for path in PAYLOADS.glob("*/*.json"))


KINDS = {"message": InboundMessage, "amendment": Amendment, "status": StatusUpdate}


def contains(actual: Any, expected: Any) -> bool:
    """``expected``'s keys (recursively) hold the same values in ``actual``."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(contains, actual, expected))
    return bool(actual == expected)


def check(event: Any, want: dict[str, Any]) -> None:
    assert isinstance(event, KINDS[want["kind"]]), event
    simple = {
        "external_id": lambda e: e.external_id,
        "text": lambda e: e.text,
        "flags": lambda e: e.flags,
        "route": lambda e: e.route,
        "sender": lambda e: e.sender.key,
        "sender_name": lambda e: e.sender_name,
        "extra": lambda e: [i.key for i in e.extra_identities],
        "attachments": lambda e: [a.content_type for a in e.attachments or []],
        "action": lambda e: e.action,
        "target": lambda e: e.target_external_id,
        "status": lambda e: e.status.value,
    }
    for key, read in simple.items():
        if key in want:
            assert read(event) == want[key], f"{key}: {read(event)!r} != {want[key]!r}"
    if "meta" in want:
        assert contains(event.meta, want["meta"]), f"meta {event.meta!r} lacks {want['meta']!r}"


@pytest.mark.parametrize(("channel", "path"), samples(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_every_documented_kind_is_rendered_or_counted(channel: str, path: Path) -> None:
    sample = json.loads(path.read_text(encoding="utf-8"))
    events, ignored = parse(channel, sample["body"])
    assert len(events) == len(sample["events"]), events
    for event, want in zip(events, sample["events"], strict=True):
        check(event, want)
    assert ignored == sample.get("ignored", [])
    for event in events:
        if isinstance(event, InboundMessage):
            assert event.text.strip(), f"{path.name}: a message with content stored with empty text"


def test_there_is_a_sample_for_every_channel_with_kinds() -> None:
    assert {channel for channel, _ in samples()} == {
        "api",
        "whatsapp",
        "twilio",
        "messenger",
        "instagram",
        "telegram",
        "wechat",
    }
