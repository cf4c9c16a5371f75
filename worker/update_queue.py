"""The outgoing queue of task updates: SQLite on disk, flushed in order.

Every update (and every task return) the worker sends goes through here, so
nothing is lost while the manager is down or the worker restarts; the rows
keep their order because the head of the queue must be accepted before the
next row is sent.

Differences from Flamenco 2 (reference B.5, D.2.3):

* payloads are JSON, not pickle;
* 404 and 409 still drop the update (the manager no longer knows the task or
  gave it to someone else), but every other permanent 4xx moves the row to a
  ``dead_letters`` table instead of blocking the queue for ever;
* SQLite runs on its own thread, so the event loop never waits for the disk;
* ``VACUUM`` only at start-up, not after every flush;
* :meth:`UpdateQueue.size` reports bytes as well as rows, for back-pressure.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any, Callable, NamedTuple, TypeVar

from flamenco_worker import defaults
from flamenco_worker.clock import SYSTEM_CLOCK, Clock
from flamenco_worker.upstream import ManagerClient, ManagerUnreachable

log = logging.getLogger(__name__)

T = TypeVar("T")

DROP_STATUSES = frozenset({404, 409})
"""The manager does not know the task, or it belongs to another worker: resending never helps."""

RETRY_STATUSES = frozenset({401, 408, 425, 429})
"""4xx answers that can heal (credentials re-registered, timeouts, rate limits): keep the row."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    queued_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    queued_at REAL NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""


class QueuedUpdate(NamedTuple):
    id: int
    url: str
    payload: Any


class QueueSize(NamedTuple):
    updates: int
    bytes: int


class _Database:
    """Blocking SQLite access; only ever called on the queue's single thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL with synchronous=NORMAL survives a killed worker process (what the queue is for)
        # and makes each insert ~5x cheaper than a full fsync; only a power cut can lose the
        # last commits.
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self.conn.execute("VACUUM")

    def insert(self, url: str, payload_json: str, queued_at: float) -> None:
        self.conn.execute("INSERT INTO updates (url, payload, queued_at) VALUES (?, ?, ?)",
                          (url, payload_json, queued_at))

    def head(self, limit: int) -> list[QueuedUpdate]:
        rows = self.conn.execute("SELECT id, url, payload FROM updates ORDER BY id LIMIT ?", (limit,))
        return [QueuedUpdate(row_id, url, json.loads(payload)) for row_id, url, payload in rows]

    def delete(self, row_id: int) -> None:
        self.conn.execute("DELETE FROM updates WHERE id = ?", (row_id,))

    def move_to_dead_letters(self, row_id: int, status: int, reason: str) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute(
                "INSERT INTO dead_letters (id, url, payload, queued_at, status, reason)"
                " SELECT id, url, payload, queued_at, ?, ? FROM updates WHERE id = ?",
                (status, reason, row_id))
            self.conn.execute("DELETE FROM updates WHERE id = ?", (row_id,))

    def size(self) -> QueueSize:
        count, size = self.conn.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM updates").fetchone()
        return QueueSize(count, size)

    def dead_letters(self) -> list[tuple[str, Any, int, str]]:
        rows = self.conn.execute("SELECT url, payload, status, reason FROM dead_letters ORDER BY id")
        return [(url, json.loads(payload), status, reason) for url, payload, status, reason in rows]

    def close(self) -> None:
        self.conn.close()


class UpdateQueue:
    """Persistent FIFO of ``(url, JSON payload)`` POSTs to the manager.

    ``clock`` times the back-off of :meth:`work` and stamps ``queued_at``.
    """

    def __init__(
        self,
        db_path: Path,
        client: ManagerClient,
        backoff_seconds: float = defaults.QUEUE_BACKOFF_SECONDS,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._client = client
        self._backoff_seconds = backoff_seconds
        self._clock = clock
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="update-queue")
        self._db = self._executor.submit(_Database, db_path).result()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the queue's SQLite thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def queue(self, url: str, payload: Any) -> None:
        """Store one POST for the manager; the flush loop sends it soon."""
        await self._run(self._db.insert, url, json.dumps(payload), self._clock.now().timestamp())
        self._wake.set()

    async def size(self) -> QueueSize:
        return await self._run(self._db.size)

    async def dead_letters(self) -> list[tuple[str, Any, int, str]]:
        """Rows the manager refused for good: ``(url, payload, status, reason)``."""
        return await self._run(self._db.dead_letters)

    async def flush(self) -> bool:
        """Send queued rows oldest first; True when the queue was emptied.

        Raises ManagerUnreachable when the manager cannot be reached; returns
        False when the head of the queue got a retryable answer.
        """
        async with self._lock:
            while True:
                rows = await self._run(self._db.head, defaults.QUEUE_FLUSH_BATCH)
                if not rows:
                    return True
                for row in rows:
                    if not await self._send(row):
                        return False

    async def _send(self, row: QueuedUpdate) -> bool:
        """POST one row and settle it; False when it must be retried later."""
        response = await self._client.post(row.url, json=row.payload)
        status = response.status_code
        if status < 300:
            await self._run(self._db.delete, row.id)
            return True
        if status in DROP_STATUSES:
            log.warning("manager answered %d to %s, dropping the update: %s", status, row.url, response.text[:200])
            await self._run(self._db.delete, row.id)
            return True
        if 400 <= status < 500 and status not in RETRY_STATUSES:
            log.error("manager refused %s with %d, moved to dead letters: %s", row.url, status, response.text[:200])
            await self._run(self._db.move_to_dead_letters, row.id, status, response.text[:1000])
            return True
        log.warning("manager answered %d to %s, will retry: %s", status, row.url, response.text[:200])
        return False

    async def flush_once(self) -> bool:
        """One flush attempt that never raises; used at shutdown and before returning a task."""
        try:
            return await self.flush()
        except ManagerUnreachable as ex:
            log.warning("could not flush the update queue: %s", ex)
            return False

    async def work(self) -> None:
        """Flush for ever: whenever something is queued, and after a back-off when the manager fails."""
        pending = True  # rows left by a previous run wait from the start
        while True:
            if not pending:
                await self._wake.wait()
            self._wake.clear()
            pending = not await self.flush_once()
            if pending:
                await self._clock.sleep(self._backoff_seconds)

    async def stop_work(self, worker: asyncio.Task[None]) -> None:
        """Cancel the :meth:`work` task, but never in the middle of sending a row.

        A row cancelled mid-POST may have reached the manager without being
        deleted here, and would be sent twice.
        """
        async with self._lock:
            worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)

    def close(self) -> None:
        self._executor.submit(self._db.close).result()
        self._executor.shutdown()
