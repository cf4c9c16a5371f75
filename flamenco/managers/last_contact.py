"""When each Manager last called the Manager API, and whether it counts as online.

The dashboard's "Last heard from" used to show the Manager document's
``_updated``, which only changes when the Manager's settings change (issue 14
#3). Every authenticated Manager API call now records the time in the
document's ``last_contact`` field, but at most once per
:data:`RECORD_INTERVAL_SECONDS` per Manager and server process: a Manager
pushes a batch every few seconds, and a store write per request would cost
more than the request itself on the local store (flamenco.store: write). The
interval is remembered in process memory; a restarted server simply writes
once more.
"""
from __future__ import annotations

import datetime
import threading
import time
from typing import Callable, Literal

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock
from flamenco.store.collections import MANAGERS

FIELD = "last_contact"
# At most one store write per Manager per this many seconds (per server process).
RECORD_INTERVAL_SECONDS = 15.0
# A Manager calls the server at least every `cancel_task_fetch_max_interval`
# (10 s by default, 30 s in Flamenco 2's example configuration), and the
# record lags by up to RECORD_INTERVAL_SECONDS: silent for longer than this,
# a Manager is shown offline.
ONLINE_WINDOW_SECONDS = 90.0

Presence = Literal["online", "offline", "never"]


class ContactRecorder:
    """Writes a Manager's ``last_contact`` when the last write is older than the interval; thread-safe.

    ``clock`` is a monotonic clock in seconds (injected so tests need not sleep).
    """

    def __init__(self, interval_seconds: float = RECORD_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_seconds = interval_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._written_at: dict[ObjectId, float] = {}

    def _claim(self, manager_id: ObjectId) -> bool:
        """Whether this call is the one to write (then no other may for the interval)."""
        now = self.clock()
        with self._lock:
            last = self._written_at.get(manager_id)
            if last is not None and now - last < self.interval_seconds:
                return False
            self._written_at[manager_id] = now
            return True

    def record(self, db: Database, manager_id: ObjectId, now: datetime.datetime | None = None) -> bool:
        """Note that the Manager called just now; whether the store was written."""
        if not self._claim(manager_id):
            return False
        db[MANAGERS].update_one({"_id": manager_id}, {"$set": {FIELD: now or clock.utcnow()}})
        return True


def presence(manager: dict, now: datetime.datetime | None = None) -> Presence:
    """``online`` if the Manager called within :data:`ONLINE_WINDOW_SECONDS`, ``never`` if it never did."""
    last = manager.get(FIELD)
    if last is None:
        return "never"
    silent = ((now or clock.utcnow()) - clock.as_utc(last)).total_seconds()
    return "online" if silent <= ONLINE_WINDOW_SECONDS else "offline"
