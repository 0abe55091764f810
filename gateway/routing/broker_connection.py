"""Connecting to RabbitMQ in the background, until it answers.

The gateway must start (and take messages into the outbox) while the broker is away, so
connections are made by a task that retries with backoff; once made, aio-pika's robust
connection restores channels, declarations and consumers after any later outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractRobustConnection

log = logging.getLogger(__name__)


async def connect_until_ready(
    url: str,
    setup: Callable[[AbstractRobustConnection], Awaitable[None]],
    *,
    what: str,
    reconnect_interval: float = 1.0,
    max_delay: float = 5.0,
) -> AbstractRobustConnection:
    """Connect, run ``setup`` (channels, declarations); on any failure start over."""
    delay = reconnect_interval
    while True:
        try:
            connection = await aio_pika.connect_robust(url, timeout=10, reconnect_interval=reconnect_interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: broker connect failed, retrying: %s", what, type(exc).__name__)
        else:
            try:
                await setup(connection)
                return connection
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await connection.close()
                raise
            except Exception as exc:
                log.warning("%s: broker set-up failed, retrying: %s", what, type(exc).__name__)
                with contextlib.suppress(Exception):
                    await connection.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
