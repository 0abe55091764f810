"""Agents by display name (``auth.tokens[].name``): who am I, the names of all agents, a
reply signed with the name; and the web chat says which answers are the bot's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.channels.webchat.frames import message_view
from gateway.config import ConfigError, config_from_dict
from gateway.model import Channel, Message, Sender
from tests.cases.support import call, say
from tests.helpers import ALICE_TOKEN, API_SECRET, BOB_TOKEN, OPS_TOKEN

NAMED = [
    {"token": OPS_TOKEN, "role": "ops"},
    {"token": ALICE_TOKEN, "role": "agent", "agent": "alice", "name": "Alice Chen 陈爱丽"},
    {"token": BOB_TOKEN, "role": "agent", "agent": "bob"},
]


async def test_me_names_the_caller_and_every_agent_and_replies_carry_the_name(make_client: Any) -> None:
    client = await make_client(
        auth={"tokens": NAMED},
        channels={"api": {"secret": API_SECRET, "callback_url": "http://127.0.0.1:9/never-reached"}},
    )
    status, me = await call(client, "GET", "/api/v1/me")
    assert status == 200
    assert me["agent"] == "alice" and me["name"] == "Alice Chen 陈爱丽"
    assert me["agent_names"] == {"alice": "Alice Chen 陈爱丽", "bob": "bob"}
    status, ops = await call(client, "GET", "/api/v1/me", OPS_TOKEN)
    assert ops["role"] == "ops" and ops["name"] is None and ops["agent_names"]["bob"] == "bob"

    cid = (await say(client, "u-names", "hello"))["conversation_id"]
    status, sent = await call(client, "POST", f"/api/v1/conversations/{cid}/messages", json={"text": "Hi!"})
    assert status == 202
    assert sent["sender"] == {"kind": "agent", "id": "alice", "name": "Alice Chen 陈爱丽"}


def test_a_name_must_be_short_and_not_empty() -> None:
    for bad in ("", "x" * 81):
        tokens = [{"token": ALICE_TOKEN, "role": "agent", "agent": "alice", "name": bad}]
        with pytest.raises(ConfigError, match="name"):
            config_from_dict({"routing": {"rules": None}, "auth": {"tokens": tokens}}, env={})


def test_the_web_chat_view_marks_the_bots_answers() -> None:
    def answer(kind: str, name: str | None) -> Message:
        return Message(
            id=f"msg_{kind}",
            conversation_id="cv_1",
            direction="outbound",
            channel=Channel.WEBCHAT,
            sender=Sender(kind=kind, id=kind, name=name),  # type: ignore[arg-type]
            text="…",
            received_at=datetime.now(UTC),
        )

    bot = message_view(answer("bot", "faq"))
    agent = message_view(answer("agent", "Alice Chen"))
    assert (bot["by"], bot["name"]) == ("bot", None)
    assert (agent["by"], agent["name"]) == ("agent", "Alice Chen")
