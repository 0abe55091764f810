"""Typing indicators across two real gateway processes on one Redis and one RabbitMQ:
the visitor's socket is on process A, the agent's console socket and API calls on B."""

from __future__ import annotations

import aiohttp
import pytest

from tests.channels.test_webchat_processes import ORIGIN, frames_until, gateway_pair  # noqa: F401  (fixture)
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, auth
from tests.processes import GatewayProcess

pytestmark = [pytest.mark.redis, pytest.mark.rabbitmq]


async def console_frames_until(ws: aiohttp.ClientWebSocketResponse, event: str) -> dict:  # type: ignore[type-arg]
    while True:
        frame = await ws.receive_json(timeout=30)
        if frame.get("type") == "event" and frame.get("event") == event:
            return frame


async def test_each_side_sees_the_other_typing_across_processes(
    gateway_pair: tuple[GatewayProcess, GatewayProcess],  # noqa: F811
) -> None:
    a, b = gateway_pair
    async with aiohttp.ClientSession() as http:
        visitor = await http.ws_connect(f"{a.url}/webchat/ws", headers={"Origin": ORIGIN})
        await visitor.send_json({"type": "hello", "language": "en"})
        await frames_until(visitor, "welcome")
        await visitor.send_json({"type": "message", "id": "c-1", "text": "Is anyone there?"})
        await frames_until(visitor, "ack", id="c-1")

        async def conversation_id() -> str | None:
            async with http.get(f"{b.url}/api/v1/conversations?channel=webchat", headers=auth()) as resp:
                found = (await resp.json())["conversations"]
                return found[0]["id"] if found else None

        cid = await eventually(conversation_id)

        # The visitor types on A; alice's console, connected to B, hears it through RabbitMQ.
        console = await http.ws_connect(f"{b.url}/api/v1/events/ws")
        await console.send_json({"type": "auth", "token": ALICE_TOKEN})
        ready = await console.receive_json(timeout=30)
        assert ready["type"] == "ready"
        if not ready["live"]:
            assert (await console.receive_json(timeout=30)) == {"type": "resync", "live": True}

        async def typed() -> dict | None:  # type: ignore[type-arg]
            await visitor.send_json({"type": "typing"})  # the widget repeats it while typing
            try:
                return await console_frames_until(console, "conversation.typing")
            except TimeoutError:
                return None

        frame = await eventually(typed)
        assert frame["conversation_id"] == cid and frame["data"]["by"] == "customer"

        # Alice types on B; the visitor's socket on A gets the frame through Redis.
        async with http.post(f"{b.url}/api/v1/conversations/{cid}/typing", headers=auth(ALICE_TOKEN)) as resp:
            assert resp.status == 200 and (await resp.json()) == {"shown": True}
        got = await frames_until(visitor, "typing")
        assert got == {"type": "typing", "by": "agent", "name": "alice"}
        await visitor.close()
        await console.close()
