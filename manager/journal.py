"""Write-behind journal with group commit: how in-memory changes reach the buffer.

Domain code changes the in-memory state and records the change here
(``insert``, ``set``, ``replace``, ``delete``); nothing waits for the store
while the state changes. A request that must be durable before it is answered
(a task handed out, a worker's update) awaits :meth:`Journal.commit`, which
returns once a flush holding every change recorded so far has been written.

One flush runs at a time, in one writer thread (PyMongo is synchronous); while
it runs, new changes gather for the next one, so under load a flush carries
the changes of many requests (group commit) and the number of store commands
per change falls as the load rises. Changes to one document within a flush
are coalesced: a task that went ``active`` and then ``completed`` before the
flush is written once.

Task log appends and rotations (``task_logs.PendingWrites``) ride on the same
flushes: a second thread writes them while the writer thread writes the
batch, so the event loop never waits on the disk and a log line is in its
file before the update that carried it is acknowledged.

A ``lazy`` change ("last seen" of a worker) does not start a flush and is
kept apart: it is written by the periodic flush every ``LAZY_FLUSH_SECONDS``
(or rides along free with a durable change of the same document), so a
hundred workers calling in do not add a hundred document updates to every
flush.

If the store fails, the batch is kept (merged before newer changes) and tried
again with a back-off; waiting requests fail after their time-out with
:class:`StoreUnavailable` (answered 503), and nothing in memory is lost.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

from flamenco_manager import task_logs
from flamenco_manager.store import Batch, Store, StoreError

log = logging.getLogger(__name__)

# Lazy changes are written at least this often.
LAZY_FLUSH_SECONDS = 5.0
# A failed flush is tried again after this long, doubling up to the maximum.
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0


class StoreUnavailable(Exception):
    """A change could not be made durable in time."""


class _Pending:
    """Changes gathered for the next flush, coalesced per document."""

    def __init__(self) -> None:
        self.batch = Batch()
        self.logs = task_logs.PendingWrites()

    def empty(self) -> bool:
        return self.batch.empty() and not self.logs

    def insert(self, collection: str, doc: dict) -> None:
        if doc["_id"] in self.batch.deletes.get(collection, ()):
            self.replace(collection, doc)  # deleted and created again within one flush
            return
        self.batch.inserts.setdefault(collection, []).append(doc)

    def set(self, collection: str, doc_id: Any, fields: dict) -> None:
        replaced = self.batch.replaces.get(collection, {}).get(doc_id)
        if replaced is not None:
            replaced.update(fields)
            return
        self.batch.sets.setdefault(collection, {}).setdefault(doc_id, {}).update(fields)

    def replace(self, collection: str, doc: dict) -> None:
        doc_id = doc["_id"]
        self.batch.sets.get(collection, {}).pop(doc_id, None)
        self.batch.deletes.get(collection, set()).discard(doc_id)
        self.batch.replaces.setdefault(collection, {})[doc_id] = dict(doc)

    def delete(self, collection: str, doc_id: Any) -> None:
        self.batch.sets.get(collection, {}).pop(doc_id, None)
        self.batch.replaces.get(collection, {}).pop(doc_id, None)
        inserts = self.batch.inserts.get(collection)
        if inserts:
            self.batch.inserts[collection] = [d for d in inserts if d["_id"] != doc_id]
        self.batch.deletes.setdefault(collection, set()).add(doc_id)

    def merge_after(self, older: Batch) -> None:
        """Put a failed batch's changes before the ones gathered since (to try it again)."""
        newer, self.batch = self.batch, Batch()
        for source in (older, newer):
            for name, docs in source.inserts.items():
                for doc in docs:
                    self.insert(name, doc)
            for name, replaced in source.replaces.items():
                for doc in replaced.values():
                    self.replace(name, doc)
            for name, sets in source.sets.items():
                for doc_id, fields in sets.items():
                    self.set(name, doc_id, fields)
            for name, ids in source.deletes.items():
                for doc_id in ids:
                    self.delete(name, doc_id)


class Journal:
    """Records changes from the event loop and writes them in group commits."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop, commit_timeout: float) -> None:
        self.store = store
        self.loop = loop
        self.commit_timeout = commit_timeout
        self._pending = _Pending()
        self._lazy: dict[tuple[str, Any], dict] = {}
        self._recorded = 0   # changes recorded so far (sequence number of the newest)
        self._durable = 0    # every change up to this one is in the store
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._log_writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-logs")
        self._task: asyncio.Task | None = None
        self._lazy_task: asyncio.Task | None = None
        self.flushes = 0

    # -- recording (event loop only) -------------------------------------------

    def insert(self, collection: str, doc: dict) -> None:
        self._pending.insert(collection, doc)
        self._recorded += 1

    def set(self, collection: str, doc_id: Any, fields: dict, lazy: bool = False) -> None:
        if lazy:
            self._lazy.setdefault((collection, doc_id), {}).update(fields)
            return
        riding = self._lazy.pop((collection, doc_id), None)
        self._pending.set(collection, doc_id, {**riding, **fields} if riding else fields)
        self._recorded += 1

    def replace(self, collection: str, doc: dict) -> None:
        self._pending.replace(collection, doc)
        self._recorded += 1

    def delete(self, collection: str, doc_id: Any) -> None:
        self._lazy.pop((collection, doc_id), None)
        self._pending.delete(collection, doc_id)
        self._recorded += 1

    def append_log(self, root: str, job_id: str | None, task_id: str, text: str) -> None:
        """Append to a task's log file with the next flush (``task_logs.append``)."""
        self._pending.logs.append(root, job_id, task_id, text)
        self._recorded += 1

    def rotate_log(self, root: str, job_id: str | None, task_id: str, max_rotations: int) -> None:
        """Start a task's log file afresh with the next flush (``task_logs.rotate``)."""
        self._pending.logs.rotate(root, job_id, task_id, max_rotations)
        self._recorded += 1

    # -- committing ------------------------------------------------------------

    async def commit(self) -> None:
        """Return once everything recorded so far is in the store (StoreUnavailable after the time-out)."""
        target = self._recorded
        if self._durable >= target:
            return
        future = self.loop.create_future()  # this caller's own: a time-out may cancel it (_release skips it)
        self._waiters.append((target, future))
        self._wake.set()
        try:
            async with asyncio.timeout(self.commit_timeout):  # no task or shield per request, as wait_for made
                await future
        except TimeoutError:
            raise StoreUnavailable(f"the manager's database did not take the change within "
                                   f"{self.commit_timeout:.0f} s") from None

    def start(self) -> None:
        self._task = self.loop.create_task(self._run(), name="journal-flusher")
        self._lazy_task = self.loop.create_task(self._lazy_flusher(), name="journal-lazy")

    async def close(self) -> None:
        """Write what is left, then stop."""
        for task in (self._task, self._lazy_task):
            if task is not None:
                task.cancel()
        self._take_lazy()
        if not self._pending.empty():
            pending, self._pending = self._pending, _Pending()
            try:
                await self._write(pending)
            except StoreError as ex:
                log.error("could not write the last %d changes at shut-down: %s", pending.batch.statements(), ex)
        self._writer.shutdown(wait=True)
        self._log_writer.shutdown(wait=True)

    async def _write(self, pending: _Pending) -> None:
        """One flush, in the writer thread (PyMongo and the disk block): log files and the batch (``_apply``)."""
        await self.loop.run_in_executor(self._writer, self._apply, pending.batch, pending.logs)

    def _apply(self, batch: Batch, logs: task_logs.PendingWrites) -> None:
        """The log files in their own thread while the batch goes to the store; both are done on return.

        Under load, writing a flush's log files (creating one per task handed
        out) took 17-35 ms and the store write 3-12 ms, one after the other:
        every request waited for the sum. They touch nothing in common, so
        the flush now takes the longer of the two (100 workers, three
        alternating pairs: 459-493 -> 500-559 tasks/s, 2026-12-04). If the
        store fails, the log writes still finish before the error goes up:
        the retry writes only the batch again.
        """
        writing = self._log_writer.submit(logs.write) if logs else None
        try:
            if not batch.empty():
                self.store.apply(batch)
        finally:
            if writing is not None:
                writing.result()

    def _take_lazy(self) -> None:
        """Move the lazy changes into the next flush."""
        lazy, self._lazy = self._lazy, {}
        for (collection, doc_id), fields in lazy.items():
            self._pending.set(collection, doc_id, fields)

    async def _lazy_flusher(self) -> None:
        while True:
            await asyncio.sleep(LAZY_FLUSH_SECONDS)
            if self._lazy:
                self._take_lazy()
                self._recorded += 1
                self._wake.set()

    async def _run(self) -> None:
        retry = RETRY_FIRST_SECONDS
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending.empty():
                self._release(self._recorded)
                continue
            pending, upto, self._pending = self._pending, self._recorded, _Pending()
            try:
                await self._write(pending)
            except StoreError as ex:
                batch = pending.batch  # its log writes are done: only the batch is tried again
                log.warning("writing %d changes failed, trying again in %.1f s: %s", batch.statements(), retry, ex)
                self._pending.merge_after(batch)
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX_SECONDS)
                self._wake.set()
                continue
            retry = RETRY_FIRST_SECONDS
            self.flushes += 1
            self._release(upto)
            if self._waiters or not self._pending.empty() and self._recorded > upto:
                self._wake.set()

    def _release(self, upto: int) -> None:
        self._durable = max(self._durable, upto)
        still = []
        for target, future in self._waiters:
            if target <= self._durable:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self._waiters = still
