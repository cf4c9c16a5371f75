"""Run a Python module with a pymongo CommandListener counting its store commands.

    python -m bench.command_counter -m flamenco_manager.cli run

The count (and the count per command name) is written as JSON to the file
named by ``FLAMENCO_BENCH_COMMANDS_FILE`` every ``DUMP_SECONDS`` and at exit.
A bulk write is one command per kind (insert, update, delete), as pymongo
sends it; handshakes and heartbeats are not commands here.
"""
from __future__ import annotations

import atexit
import json
import os
import runpy
import sys
import threading
from pathlib import Path

from pymongo import monitoring

from tests.support.commands import CommandCounter

DUMP_SECONDS = 0.2


def dump(counter: CommandCounter, path: Path) -> None:
    """Write the counts where the benchmark reads them (replaced whole: never half written)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(counter.snapshot()))
    tmp.replace(path)


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        raise SystemExit("usage: python -m bench.command_counter -m MODULE [ARGS...]")
    path = Path(os.environ["FLAMENCO_BENCH_COMMANDS_FILE"])
    counter = CommandCounter()
    monitoring.register(counter)

    def dump_forever() -> None:
        while True:
            dump(counter, path)
            threading.Event().wait(DUMP_SECONDS)

    threading.Thread(target=dump_forever, daemon=True).start()
    atexit.register(dump, counter, path)
    module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
