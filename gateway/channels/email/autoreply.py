"""When the gateway may answer a mail automatically (acknowledgements, FAQ answers,
rating requests), and how often.

Never to a loop-guarded message (auto-replies, bounces, lists, mailer-daemons), never to
a system address, and at most ``limit`` automatic messages per address per ``window``.
The counts live in this process's memory: after a restart, or across several gateway
processes, an address can receive up to ``limit`` more per process — an accepted
trade-off, since the loop guards already stop machine-to-machine loops and this limit
only protects people from a burst of automatic mail.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from gateway.channels.email.guards import LOOP_GUARD, is_system_address

MAX_TRACKED_ADDRESSES = 100_000


class AutoReplyLimiter:
    def __init__(self, *, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        # address → recent (time, message id); oldest-touched addresses first
        self._sent: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()

    def _recent(self, address: str) -> deque[tuple[float, str]]:
        entries = self._sent.get(address)
        if entries is None:
            return deque()
        horizon = self.clock() - self.window
        while entries and entries[0][0] <= horizon:
            entries.popleft()
        return entries

    def would_allow(self, address: str, inbound_flags: Iterable[str] = ()) -> bool:
        """Whether an automatic message to ``address`` would go out now (consumes nothing)."""
        address = address.strip().lower()
        if LOOP_GUARD in set(inbound_flags) or is_system_address(address):
            return False
        return len(self._recent(address)) < self.limit

    def acquire(self, address: str, message_id: str) -> bool:
        """Count one automatic message; the same message retried counts once."""
        address = address.strip().lower()
        if is_system_address(address):
            return False
        entries = self._recent(address)
        if any(mid == message_id for _, mid in entries):
            return True
        if len(entries) >= self.limit:
            return False
        entries.append((self.clock(), message_id))
        self._sent[address] = entries
        self._sent.move_to_end(address)
        while len(self._sent) > MAX_TRACKED_ADDRESSES:
            self._sent.popitem(last=False)
        return True
