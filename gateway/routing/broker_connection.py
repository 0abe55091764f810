"""Connecting to RabbitMQ in the background, until it answers — to one node, or to any
node of a cluster.

The gateway must start (and take messages into the outbox) while the broker is away, so
connections are made by a task that retries with backoff.

* One URL (``broker.url``): aio-pika's robust connection, which restores channels,
  declarations and consumers after any later outage of that node.
* Several (``broker.urls``, the nodes of one cluster): a plain connection to the first
  node that answers; when it closes (the node died, or its channel was closed), the
  next node is tried, and ``setup`` runs again there. Declarations are idempotent, and a
  quorum queue lives on every node, so any node serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection

log = logging.getLogger(__name__)

# Declares what the connection needs; may return the channels whose closing means the
# connection is no longer usable (watched when there are several nodes).
Setup = Callable[[Any], Awaitable[Any]]


async def connect_until_ready(
    url: str,
    setup: Setup,
    *,
    what: str,
    reconnect_interval: float = 1.0,
    max_delay: float = 5.0,
) -> Any:
    """Connect (robustly), run ``setup`` (channels, declarations); on any failure start over."""
    connection, _, _ = await _connect_any(
        [url], setup, what=what, reconnect_interval=reconnect_interval, max_delay=max_delay
    )
    return connection


async def _connect_any(
    urls: Sequence[str],
    setup: Setup,
    *,
    what: str,
    reconnect_interval: float,
    max_delay: float = 5.0,
    start_at: int = 0,
) -> tuple[Any, int, list[Any]]:
    """The first of ``urls`` (from ``start_at``, round and round) that connects and takes
    ``setup``: the connection, its index and the channels ``setup`` asked to watch."""
    robust = len(urls) == 1
    delay = reconnect_interval
    attempt = start_at
    while True:
        index = attempt % len(urls)
        attempt += 1
        try:
            if robust:
                connection = await aio_pika.connect_robust(urls[0], timeout=10, reconnect_interval=reconnect_interval)
            else:
                connection = await aio_pika.connect(urls[index], timeout=5)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: broker connect failed, retrying: %s", what, type(exc).__name__)
        else:
            try:
                watched = await setup(connection)
                return connection, index, list(watched or ())
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await connection.close()
                raise
            except Exception as exc:
                log.warning("%s: broker set-up failed, retrying: %s", what, type(exc).__name__)
                with contextlib.suppress(Exception):
                    await connection.close()
        if (attempt - start_at) % len(urls) == 0:  # a whole round failed: back off
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


async def closed(connection: AbstractConnection, channels: Sequence[Any]) -> None:
    """Return once ``connection`` or one of ``channels`` has closed (a node lost, or a
    channel the broker closed): the caller moves to the next node."""
    lost = asyncio.Event()

    def on_close(*_: Any) -> None:
        lost.set()

    for item in (connection, *channels):
        item.close_callbacks.add(on_close)
        if item.is_closed:
            lost.set()
    await lost.wait()


async def stay_connected(
    urls: Sequence[str],
    setup: Setup,
    *,
    what: str,
    on_connected: Callable[[Any], None],
    on_lost: Callable[[], None],
    reconnect_interval: float = 1.0,
) -> None:
    """Hold a connection to one of ``urls`` for good. With one URL: connect (robustly),
    ``on_connected`` and return. With several: whenever the connection (or a channel
    ``setup`` returned) closes, ``on_lost`` and on to the next node; runs until cancelled."""
    if len(urls) == 1:
        on_connected(await connect_until_ready(urls[0], setup, what=what, reconnect_interval=reconnect_interval))
        return
    start_at = 0
    while True:
        connection, node, watched = await _connect_any(
            urls, setup, what=what, reconnect_interval=reconnect_interval, start_at=start_at
        )
        log.info("%s: connected to broker node %d of %d", what, node + 1, len(urls))
        on_connected(connection)
        try:
            await closed(connection, watched)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()
        on_lost()
        log.warning("%s: broker node %d lost; moving to the next", what, node + 1)
        start_at = node + 1
