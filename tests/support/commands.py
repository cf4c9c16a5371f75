"""Counting the store commands clients send (pymongo's command monitoring), for tests and measurements."""
from __future__ import annotations

import collections

from pymongo import monitoring


class CommandCounter(monitoring.CommandListener):
    """Commands sent, by name (one bulk write is one command) and by the collection they name."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.collections: collections.Counter[str] = collections.Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.counts[event.command_name] += 1
        target = event.command.get(event.command_name)
        if isinstance(target, str):  # find, update, aggregate, ... name their collection; getMore a cursor
            self.collections[target] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.counts.clear()
        self.collections.clear()
