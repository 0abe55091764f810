"""``gateway search reindex``: index the conversations stored before search existed
(``gateway.core.reindex``), on the store ``storage.url`` names."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.config import ConfigError, load_config
from gateway.core.reindex import reindex
from gateway.storage import open_store


async def _run(config_path: Path | None) -> int:
    config = load_config(config_path)
    store = open_store(config.storage.url, prefix=config.storage.key_prefix)
    await store.start()
    try:
        return await reindex(store)
    finally:
        await store.close()


def cmd_reindex(args: argparse.Namespace) -> int:
    try:
        count = asyncio.run(_run(args.config))
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    print(f"indexed {count} conversation{'s' if count != 1 else ''} for search")
    return 0


def add_search_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    search = sub.add_parser("search", help="the conversation search index")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    again = search_sub.add_parser("reindex", help="index conversations stored before search existed")
    again.add_argument("--config", type=Path, default=None, help="config file (default: as serve)")
    again.set_defaults(func=cmd_reindex)
