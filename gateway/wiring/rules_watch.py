"""The rules manager on the aiohttp app: its key, and the file watch that runs while the app runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.routing.reload import RulesManager

RULES = web.AppKey("rules", RulesManager)


async def watch_rules(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: poll the rules file while the app runs."""
    manager = app.get(RULES)
    task = asyncio.create_task(manager.watch(), name="rules-watch") if manager is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
