from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import PrivateRabbit


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A RabbitMQ node of our own, so stopping it disturbs nobody else."""
    node = PrivateRabbit()
    node.start()
    try:
        yield node
    finally:
        node.stop()
