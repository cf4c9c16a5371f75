"""Run a Python module with a pymongo CommandListener counting its store commands.

    python -m bench.command_counter -m flamenco_manager.cli run

The count (and the count per command name) is written as JSON to the file
named by ``FLAMENCO_BENCH_COMMANDS_FILE`` every ``DUMP_SECONDS`` and at exit.
A bulk write is one command per kind (insert, update, delete), as pymongo
sends it; handshakes and heartbeats are not commands here.
"""
from __future__ import annotations

import atexit
import collections
import json
import os
import runpy
import sys
import threading
from pathlib import Path

from pymongo import monitoring

DUMP_SECONDS = 0.2
# Connection bookkeeping, not work.
NOT_COUNTED = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo", "saslStart",
                         "saslContinue"})


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: collections.Counter = collections.Counter()
        self.micros: collections.Counter = collections.Counter()  # store time per command name
        self.lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in NOT_COUNTED:
            with self.lock:
                self.names[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name not in NOT_COUNTED:
            with self.lock:
                self.micros[event.command_name] += event.duration_micros

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def dump(self, path: Path) -> None:
        with self.lock:
            data = {"commands": sum(self.names.values()), "by_name": dict(self.names), "micros": dict(self.micros)}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        raise SystemExit("usage: python -m bench.command_counter -m MODULE [ARGS...]")
    path = Path(os.environ["FLAMENCO_BENCH_COMMANDS_FILE"])
    counter = CommandCounter()
    monitoring.register(counter)

    def dump_forever() -> None:
        while True:
            counter.dump(path)
            threading.Event().wait(DUMP_SECONDS)

    threading.Thread(target=dump_forever, daemon=True).start()
    atexit.register(counter.dump, path)
    module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
