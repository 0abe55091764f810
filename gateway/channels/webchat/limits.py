"""Who may connect and how fast: origins, connections per address, message rates.

Limits are per gateway process (a load balancer spreading visitors over N processes
multiplies them by at most N); they exist to stop floods and runaway scripts, not to meter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class OriginPolicy:
    """Exact ``scheme://host[:port]`` matches; ``*`` lets every origin in."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self._allowed = {o.strip().rstrip("/").lower() for o in allowed}
        self._any = "*" in self._allowed

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False  # browsers always send it on a websocket; its absence is not a browser
        return self._any or origin.strip().rstrip("/").lower() in self._allowed


class TokenBucket:
    """``rate`` per second on average, bursts of up to ``burst``."""

    __slots__ = ("burst", "clock", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self) -> float:
        """0 when allowed (and counted); else the seconds until the next one would be."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class ConnectionCounter:
    """Open sockets per client address."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, address: str) -> bool:
        count = self._open.get(address, 0)
        if count >= self.limit:
            return False
        self._open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)

    def total(self) -> int:
        return sum(self._open.values())
