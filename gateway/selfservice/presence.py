"""Agents' presence (online / away / offline), the same for every gateway process.

What an agent chooses (``POST /api/v1/agents/me/presence``) is kept in storage as a shared
value (``presence:<agent>``, for ``CHOICE_TTL_MS``); whether their console is open is the
``console-seen:<agent>`` marker its live socket renews (``gateway.selfservice.waiting``).
An agent is **online** while their console is open and they have not chosen away or
offline; **away** when they chose it (console open or not); else **offline**.
Customers waiting for a person, ``GET /api/v1/queues`` and ``POST /api/v1/agents/me/next``
read it from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.storage.base import Store

STATUSES = ("online", "away", "offline")
PRESENCE = "presence:"
CONSOLE_SEEN = "console-seen:"
CHOICE_TTL_MS = 12 * 3600 * 1000  # a choice lasts a working day; then the console decides


async def choose(store: Store, agent: str, status: str) -> None:
    if status not in STATUSES:
        raise ValueError(status)
    await store.shared_set(PRESENCE + agent, status, ttl_ms=CHOICE_TTL_MS)


async def presence_of(store: Store, agents: Iterable[str]) -> dict[str, str]:
    """Each agent's effective status."""
    names = sorted(set(agents))
    # One round trip for every agent (a public endpoint asks this: no command per agent).
    values = await store.shared_get_many([PRESENCE + n for n in names] + [CONSOLE_SEEN + n for n in names])
    chosen, seen = values[: len(names)], values[len(names) :]
    out = {}
    for name, choice, console in zip(names, chosen, seen, strict=True):
        if choice in ("away", "offline"):
            out[name] = choice
        else:
            out[name] = "online" if console else "offline"
    return out


async def chosen_of(store: Store, agent: str) -> str | None:
    value = await store.shared_get(PRESENCE + agent)
    return value if value in STATUSES else None
