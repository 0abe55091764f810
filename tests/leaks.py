"""Looking for card numbers where they must never be: every key and value a store holds,
every message on RabbitMQ, every log record."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from typing import Any

from gateway.storage.redis_store import RedisStore


def _plain_digits(text: str) -> str:
    """Every character whose NFKC form is digits (any script, superscript, circled …) as
    ASCII digits, so a full-width or superscript card number is found too."""
    return "".join(_ascii_digits(c) or c for c in text)


def _ascii_digits(ch: str) -> str:
    normal = unicodedata.normalize("NFKC", ch)
    return "".join(str(unicodedata.decimal(d)) for d in normal) if normal.isdecimal() else ""


def card_pattern(number: str) -> re.Pattern[str]:
    """``number`` with anything but digits between its digits (separators of any kind)."""
    return re.compile(r"[^0-9]{0,8}".join(number))


def leaked(haystack: str, numbers: list[str]) -> list[str]:
    """Which of ``numbers`` appear in ``haystack`` in full, however separated."""
    plain = _plain_digits(haystack)
    return [n for n in numbers if card_pattern(n).search(plain)]


async def store_dump(store: RedisStore) -> str:
    """Every key of the store and everything under it, as one text."""
    client = store._redis
    lines: list[str] = []
    async for key in client.scan_iter(match=store.k("*"), count=1000):
        kind = await client.type(key)
        if kind == "string":
            value: Any = await client.get(key)
        elif kind == "hash":
            value = await client.hgetall(key)
        elif kind == "list":
            value = await client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(await client.smembers(key))
        elif kind == "zset":
            value = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = await client.xrange(key)
        else:
            value = kind
        lines.append(f"{key} {json.dumps(value, ensure_ascii=False, default=str)}")
    return "\n".join(lines)


def log_text(records: list[logging.LogRecord]) -> str:
    """Each record's message, its extra fields and traceback, as the JSON log would hold them."""
    standard = set(vars(logging.makeLogRecord({})))
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.extend(str(v) for k, v in vars(record).items() if k not in standard)
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)
