"""Refused registrations per client address, so a registration secret cannot be guessed at speed.

Only refusals count: a farm registering a thousand machines with the right
secret is never slowed down. In memory, in the one dispatching process.
"""
from __future__ import annotations

import collections
import time
from typing import Callable

# Refused registrations allowed per address within the window, then 429 until the window passes.
MAX_REFUSALS = 20
WINDOW_SECONDS = 60.0
# Addresses remembered at most (oldest forgotten first), so the table cannot grow without bound.
MAX_ADDRESSES = 10_000


class RefusalThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.refusals: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    def _recent(self, address: str) -> collections.deque[float]:
        stamps = self.refusals.get(address) or collections.deque()
        cutoff = self.clock() - WINDOW_SECONDS
        while stamps and stamps[0] < cutoff:
            stamps.popleft()
        return stamps

    def blocked_for(self, address: str) -> float:
        """Seconds this address must wait before it may try again (0 when it may)."""
        stamps = self._recent(address)
        if len(stamps) < MAX_REFUSALS:
            return 0.0
        return max(0.0, stamps[0] + WINDOW_SECONDS - self.clock())

    def refused(self, address: str) -> None:
        stamps = self._recent(address)
        stamps.append(self.clock())
        self.refusals[address] = stamps
        self.refusals.move_to_end(address)
        while len(self.refusals) > MAX_ADDRESSES:
            self.refusals.popitem(last=False)
