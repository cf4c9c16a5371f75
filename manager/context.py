"""What every part of the Manager works with: settings, database, variables, clock."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from pymongo.database import Database

from flamenco_manager import db as dbmod
from flamenco_manager.config import Config
from flamenco_manager.variables import Lookup, build_lookup


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class ManagerContext:
    """Shared by the API, the dashboard and the sync daemon of one process.

    ``clock`` is injectable so tests can move time forward for timeouts and
    sleep schedules without waiting.
    """

    config: Config
    db: Database
    variables: Lookup = field(default_factory=dict)
    clock: Callable[[], dt.datetime] = utcnow

    @classmethod
    def create(cls, config: Config, clock: Callable[[], dt.datetime] = utcnow) -> "ManagerContext":
        database = dbmod.connect(config.database_url)
        dbmod.ensure_indexes(database)
        return cls(config=config, db=database, variables=build_lookup(config.variables), clock=clock)

    def now(self) -> dt.datetime:
        return self.clock()
