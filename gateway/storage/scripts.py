"""The Lua scripts every atomic step runs, in real Redis and in the in-memory store alike.

Each script in ``lua/`` is sent with ``lua/lib.lua`` (the shared helpers) in front of it;
redis-py loads it once per connection (``SCRIPT LOAD``) and then calls it by digest.
ARGV[1] is always the key prefix; no script declares KEYS (see ``lib.lua``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")


@cache
def script_source(name: str) -> str:
    """``lib.lua`` followed by ``<name>.lua``."""
    return (LUA_DIR / "lib.lua").read_text() + "\n" + (LUA_DIR / f"{name}.lua").read_text()


def only_from(queues: list[str] | None) -> list[str]:
    """The scripts' ``may_serve`` arguments: any queue (None), or only these."""
    return ["0"] if queues is None else ["1", *queues]
