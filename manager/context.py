"""What every part of the Manager works with: settings, store, in-memory state, engine, clock."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from flamenco_manager.config import Config
from flamenco_manager.engine import Engine
from flamenco_manager.journal import Journal
from flamenco_manager.last_rendered import LastRendered
from flamenco_manager.server_settings import file_or_server_variables
from flamenco_manager.state import State
from flamenco_manager.store import Store
from flamenco_manager.variables import Lookup, build_lookup

# How long a worker's request waits for its change to reach the database
# before it is answered 503 (a Flamenco 2 worker gives up after 3 s anyway).
COMMIT_TIMEOUT_SECONDS = 2.0


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class ManagerContext:
    """Shared by the API, the dashboard and the sync daemon of the one dispatching process.

    ``clock`` is injectable so tests can move time forward for timeouts and
    sleep schedules without waiting.
    """

    config: Config
    store: Store
    engine: Engine
    state: State = field(default_factory=State)
    variables: Lookup = field(default_factory=dict)
    clock: Callable[[], dt.datetime] = utcnow
    last_rendered: LastRendered = field(default_factory=LastRendered)

    @classmethod
    def create(cls, config: Config, clock: Callable[[], dt.datetime] = utcnow) -> "ManagerContext":
        """Connect, take the dispatch lock, rebuild the state and start the engine."""
        store = Store(config.database_url)
        try:
            store.ensure_indexes()
            engine = Engine(store, COMMIT_TIMEOUT_SECONDS)
            ctx = cls(config=config, store=store, engine=engine, clock=clock)
            engine.start(ctx.state)
            # The variables the Server set (kept in the buffer) win over the file's.
            ctx.variables = build_lookup(file_or_server_variables(config.variables, ctx.state.settings))
        except Exception:
            store.close()
            raise
        return ctx

    @property
    def journal(self) -> Journal:
        return self.engine.journal

    def now(self) -> dt.datetime:
        return self.clock()

    def close(self) -> None:
        """Write what is left, release the dispatch lock, close the connection."""
        self.engine.stop()
        self.store.close()
