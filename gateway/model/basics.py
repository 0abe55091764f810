"""What every domain type shares: the ``Model`` base, ids (``new_id``), times and durations
(``utcnow``, ``parse_duration``), and the "retry later" errors (``ServiceUnavailable``, ``Backlogged``)."""

from __future__ import annotations

import base64
import math
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ServiceUnavailable(Exception):
    """Something the gateway depends on (storage) is down: answer "retry later"."""


class Backlogged(ServiceUnavailable):
    """The outbox holds ``broker.outbox_limit`` entries or more (the broker is away or
    slower than intake): a new customer message is refused with a retryable answer (HTTP
    503 with ``Retry-After``, SMTP 451) until the relay has caught up."""

    code = "backlogged"
    retry_after = 1

    def __init__(self, depth: int) -> None:
        super().__init__(f"{depth} outbox entries await the broker; retry later")
        self.depth = depth


class Model(BaseModel):
    """Base of every domain type: unknown keys from older/newer writers are ignored."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)


def utcnow() -> datetime:
    return datetime.now(UTC)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD.encode())


def new_id(prefix: str) -> str:
    """A sortable unique id: 48 bits of milliseconds then 80 random bits (ULID layout)."""
    # 130 bits of base 32 (two leading zero bits), encoded by base64's C code: 160 bits
    # give 32 digits without padding, the first 6 always zero; then to Crockford's alphabet.
    raw = int(time.time() * 1000).to_bytes(10, "big") + os.urandom(10)
    return f"{prefix}_{base64.b32encode(raw)[6:].translate(_TO_CROCKFORD).decode()}"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


MAX_DURATION = 100 * 366 * 86400.0  # a century: longer "durations" are typos, and overflow date arithmetic


def parse_duration(value: str | int | float) -> float:
    """``30s``, ``10m``, ``2h``, ``1d`` (a bare number is seconds) → seconds.

    Always a finite number from 0 to ``MAX_DURATION``: ``NaN``, infinities (YAML ``.nan``,
    ``.inf``, ``1e400``) and absurd lengths are refused with ``ValueError``.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) if abs(value) <= MAX_DURATION else math.inf
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 2h, 1d)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DURATION:
        raise ValueError(f"not a duration: {value!r} (a finite length from 0 to 100 years)")
    return seconds


def whole_number(value: Any) -> Any:
    """For a ``field_validator(mode="before")`` of an int field: a JSON integer (``5``, also
    ``5.0``), never ``true`` or ``"5"``, which pydantic's lax mode takes as ``1`` and ``5``."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a whole number")
    return value
