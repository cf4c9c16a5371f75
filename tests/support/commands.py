"""Counting the store commands clients send (pymongo's command monitoring), for tests and benchmarks."""
from __future__ import annotations

import collections
import threading

from pymongo import monitoring

# Connection bookkeeping, not work: never counted.
NOT_COUNTED = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo", "saslStart",
                         "saslContinue"})


class CommandCounter(monitoring.CommandListener):
    """Commands sent, by name (one bulk write is one command) and by the collection they name,
    and the store's time per command name. Safe to share between a process's threads."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.collections: collections.Counter[str] = collections.Counter()
        self.micros: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in NOT_COUNTED:
            return
        target = event.command.get(event.command_name)
        with self._lock:
            self.counts[event.command_name] += 1
            if isinstance(target, str):  # find, update, aggregate, ... name their collection; getMore a cursor
                self.collections[target] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name not in NOT_COUNTED:
            with self._lock:
                self.micros[event.command_name] += event.duration_micros

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self.counts.clear()
            self.collections.clear()
            self.micros.clear()

    def snapshot(self) -> dict:
        """``{commands, by_name, micros}``, consistent at one instant."""
        with self._lock:
            return {"commands": sum(self.counts.values()), "by_name": dict(self.counts), "micros": dict(self.micros)}
