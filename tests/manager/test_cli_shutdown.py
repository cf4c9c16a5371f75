"""Stopping ``flamenco-manager run``: what uses the context stops before the context closes.

The sync daemon used to be stopped after the engine and the store had
closed, so a step it ran meanwhile failed with a traceback in the log (seen
under load in the full test suite).
"""
from __future__ import annotations

import threading

from flamenco.farm.services import free_port
from flamenco_manager import cli
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext


def test_before_close_runs_while_the_engine_and_store_still_work(manager_settings, clock):
    ctx = ManagerContext.create(build_config({**manager_settings, "listen": f"127.0.0.1:{free_port()}"}),
                                clock=clock)
    seen: list[str] = []

    def before_close() -> None:
        assert ctx.store.db.command("ping")["ok"] == 1
        seen.append(ctx.engine.call(lambda: "engine answered"))

    stop = threading.Event()
    stop.set()  # serve, then stop at once
    cli._serve(ctx, stop, before_close=before_close)
    assert seen == ["engine answered"]
