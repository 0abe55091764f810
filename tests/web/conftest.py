from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.helpers import gateway_config


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def make_client(aiohttp_client: Any, store: Store, publisher: MemoryPublisher) -> Callable[..., Awaitable[TestClient]]:
    async def make(*, clock: Callable[[], float] = time.time, **sections: Any) -> TestClient:
        app = build_app(gateway_config(**sections), store=store, publisher=publisher, clock=clock)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client: Callable[..., Awaitable[TestClient]]) -> TestClient:
    return await make_client()
