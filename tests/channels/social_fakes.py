"""Test support for the social channels: provider APIs faked as real local HTTP servers,
a gateway built on the test's store, signing helpers and store look-ups."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.model import Conversation, Message
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.helpers import ALICE_TOKEN, auth, gateway_config

Answer = tuple[int, Any]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class FakeProvider:
    """Records every request; answers from a per-path script, else from ``default``."""

    def __init__(self, default: Callable[[Recorded], Answer]) -> None:
        self.requests: list[Recorded] = []
        self.scripts: dict[str, list[Answer]] = {}
        self.default = default

    def script(self, path: str, *answers: Answer) -> None:
        self.scripts.setdefault(path, []).extend(answers)

    def to(self, path_suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    async def handle(self, request: web.Request) -> web.Response:
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=await request.read(),
        )
        self.requests.append(recorded)
        script = self.scripts.get(request.path)
        status, body = script.pop(0) if script else self.default(recorded)
        return web.json_response(body, status=status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


async def start_fake(aiohttp_server: Any, fake: FakeProvider, prefix: str = "") -> str:
    server = await aiohttp_server(fake.app())
    return str(server.make_url(prefix)).rstrip("/")


async def gateway(aiohttp_client: Any, store: Store, **channels: Any) -> TestClient:
    config = gateway_config(channels=channels, reply_tracking={"scan_interval": "50ms"})
    return await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def conversations_of(store: Store, identity_key: str) -> list[Conversation]:
    contact = await store.lookup_contact([identity_key])
    if contact is None:
        return []
    page = await store.list_conversations(contact_id=contact.id, limit=100)
    return page.conversations


async def messages_of(store: Store, identity_key: str) -> list[Message]:
    found: list[Message] = []
    for conv in await conversations_of(store, identity_key):
        found += await store.get_messages(conv.id)
    return sorted(found, key=lambda m: m.received_at)


async def reply(client: TestClient, conversation_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/api/v1/conversations/{conversation_id}/messages", json=body, headers=auth(ALICE_TOKEN))
    return resp.status, await resp.json()


async def message_status(store: Store, conversation_id: str, message_id: str) -> tuple[str | None, str | None]:
    message = await store.get_message(conversation_id, message_id)
    assert message is not None
    return (message.status.value if message.status else None), message.error
