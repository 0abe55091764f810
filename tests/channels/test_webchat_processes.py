"""Two real gateway processes on one Redis and one RabbitMQ: the visitor's socket is on
process A, the agent's reply goes in (and out) through process B."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import REDIS_URL, eventually
from tests.helpers import ALICE_TOKEN, auth
from tests.processes import GatewayProcess, process_config

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]

ORIGIN = "https://shop.example.com"


@pytest.fixture
def gateway_pair(tmp_path: Path, amqp_url: str, redis_prefix: str) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    def make(name: str, scan_interval: str) -> GatewayProcess:
        config = process_config(
            storage_url=REDIS_URL,
            prefix=redis_prefix,
            broker_url=amqp_url,
            channels={"webchat": {"allowed_origins": [ORIGIN]}},
            reply_tracking={"scan_interval": scan_interval},
        )
        return GatewayProcess(config, tmp_path, name)

    # A scans its timers only once an hour, so the reply's send is B's (woken by the API call).
    a, b = make("a", "1h"), make("b", "0.05s")
    try:
        yield a.start(), b.start()
    finally:
        a.stop()
        b.stop()


async def frames_until(ws: aiohttp.ClientWebSocketResponse, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        frame = json.loads((await ws.receive(timeout=30)).data)
        body = frame.get("message", frame)
        if frame["type"] == kind and all(body.get(k) == v for k, v in match.items()):
            return frame


async def test_a_reply_sent_by_process_b_reaches_the_visitor_on_process_a(
    gateway_pair: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = gateway_pair
    async with aiohttp.ClientSession() as http:
        on_a = await http.ws_connect(f"{a.url}/webchat/ws", headers={"Origin": ORIGIN})
        await on_a.send_json({"type": "hello", "language": "zh"})
        welcome = await frames_until(on_a, "welcome")
        await on_a.send_json({"type": "message", "id": "c-1", "text": "跨进程能收到回复吗？"})
        ack = await frames_until(on_a, "ack", id="c-1")

        # The same visitor in a second tab, connected to B: B accepts A's token.
        on_b = await http.ws_connect(f"{b.url}/webchat/ws", headers={"Origin": ORIGIN})
        await on_b.send_json({"type": "hello", "token": welcome["token"]})
        history = await frames_until(on_b, "history")
        assert [m["id"] for m in history["messages"]] == [ack["message_id"]]

        async def conversation_id() -> str | None:
            async with http.get(f"{b.url}/api/v1/conversations", headers=auth()) as resp:
                found = [c for c in (await resp.json())["conversations"] if c["channel"] == "webchat"]
                return found[0]["id"] if found else None

        cid = await eventually(conversation_id)
        async with http.post(
            f"{b.url}/api/v1/conversations/{cid}/messages",
            json={"text": "可以，这是来自 B 的回复"},
            headers=auth(ALICE_TOKEN),
        ) as resp:
            assert resp.status == 202
            reply = await resp.json()

        got_a = await frames_until(on_a, "message", **{"from": "agent"})
        got_b = await frames_until(on_b, "message", **{"from": "agent"})
        assert got_a["message"]["id"] == got_b["message"]["id"] == reply["id"]
        assert got_a["message"]["text"] == "可以，这是来自 B 的回复"

        def sent_by(gateway: GatewayProcess) -> bool:
            return any(e.get("event") == "send sent" and e.get("message_id") == reply["id"] for e in _log(gateway))

        await eventually(lambda: sent_by(b))  # logged once the send is recorded, after the frame left
        assert not sent_by(a)

        await on_a.send_json({"type": "delivered", "id": reply["id"]})

        async def delivered() -> bool:
            async with http.get(f"{b.url}/api/v1/conversations/{cid}", headers=auth()) as resp:
                messages = (await resp.json())["messages"]
                return next(m for m in messages if m["id"] == reply["id"])["status"] == "delivered"

        await eventually(delivered)
        await on_a.close()
        await on_b.close()


def _log(gateway: GatewayProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gateway.log().splitlines() if line.startswith("{")]
