"""Typing signals in one process: the visitor's reaches gateway.events as
conversation.typing (nothing stored), the agent's reaches the visitor's socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.routing.publisher import MemoryPublisher, Outgoing
from tests.cases.support import call, say
from tests.helpers import ALICE_TOKEN, OPS_TOKEN

ORIGIN = "https://shop.example.com"


async def test_typing_goes_both_ways_and_only_where_it_can_show(make_client: Any, publisher: MemoryPublisher) -> None:
    published: list[Outgoing] = []
    publisher.subscribe(published.append)
    client = await make_client(channels={"webchat": {"allowed_origins": [ORIGIN]}})
    ws = await client.ws_connect("/webchat/ws", headers={"Origin": ORIGIN})
    await ws.send_json({"type": "hello"})
    assert (await ws.receive_json(timeout=30))["type"] == "welcome"
    await ws.send_json({"type": "typing"})  # no conversation yet: nobody to tell
    await ws.send_json({"type": "message", "id": "c-1", "text": "hello?"})
    while (await ws.receive_json(timeout=30))["type"] != "ack":
        pass

    await ws.send_json({"type": "typing"})
    await ws.send_json({"type": "typing"})  # within 2 s: passed on once

    def typing_events() -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in published if m.routing_key == "conversation.typing"]

    for _ in range(200):
        if typing_events():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    [event] = typing_events()
    status, listed = await call(client, "GET", "/api/v1/conversations?channel=webchat")
    cid = listed["conversations"][0]["id"]
    assert event["conversation_id"] == cid and event["by"] == "customer"
    assert all(m.exchange == "gateway.events" for m in published if m.routing_key == "conversation.typing")

    status, body = await call(client, "POST", f"/api/v1/conversations/{cid}/typing")
    assert (status, body) == (200, {"shown": True})
    while (frame := await ws.receive_json(timeout=30))["type"] != "typing":
        pass
    assert frame == {"type": "typing", "by": "agent", "name": "alice"}

    other = (await say(client, "u-api", "via the API"))["conversation_id"]
    assert await call(client, "POST", f"/api/v1/conversations/{other}/typing") == (200, {"shown": False})
    assert (await call(client, "POST", f"/api/v1/conversations/{cid}/typing", OPS_TOKEN))[0] == 403
    assert (await call(client, "POST", "/api/v1/conversations/cv_nope/typing", ALICE_TOKEN))[0] == 404
    await ws.close()
