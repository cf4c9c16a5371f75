"""The Manager's MongoDB task buffer: the one module that talks to the store.

Everything else works on the in-memory state (``state.py``) and records its
changes in the journal (``journal.py``); the journal hands them here as one
:class:`Batch` per group commit, written with one bulk command per collection
and kind. The buffer is the durable record: :meth:`Store.load` rebuilds the
state from it at start-up.

Store-specific knowledge lives here and nowhere else:

- FerretDB (the local and CI store) costs about a millisecond of CPU per
  command whatever its size, so a batch is a handful of commands, not one per
  document. Bulk commands are split into chunks of ``MAX_STATEMENTS``: our
  FerretDB build closes each statement's iterator before the next (the stock
  v1.24 wedges from 100 statements on), and a bound keeps any command small.
- FerretDB has no TTL indexes, transactions or atomic findAndModify; the only
  atomic decision used is a unique ``_id`` insert (the dispatch owner lock),
  and expiry (blocklist, old tasks) is a periodic delete by the manager.
- FerretDB updates a document at several times the cost of inserting or
  deleting one: finished tasks move to ``tasks_done`` (insert + delete), and
  task changes are checkpointed once per acknowledged update, not per change.
- The same code is right on MongoDB: ordered=False bulk writes keyed by
  ``_id``, upserts for documents a crash may have written already.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
from typing import Any, Iterator, Sequence, TypeVar

import pymongo
from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Collection names (docs/contracts.md, "Manager and worker").
TASKS = "tasks"                  # cached tasks waiting, running, or finished with news for the Server
TASKS_DONE = "tasks_done"        # finished tasks the Server knows about (moved: an insert and a delete
                                 # cost FerretDB a fraction of a document update)
WORKERS = "workers"
UPDATE_QUEUE = "task_update_queue"
UPDATE_REJECTS = "task_update_rejects"  # updates the Server never acknowledged
BLACKLIST = "worker_blacklist"
SETTINGS = "settings"
# The settings document naming the one process that owns dispatch on this buffer.
OWNER_DOC = "dispatch_owner"

# Server-selection timeout: fail a flush quickly instead of hanging every worker.
SERVER_SELECTION_TIMEOUT_MS = 2000
# Statements per bulk command: large enough that a busy flush is one command,
# small enough that no command grows without bound.
MAX_STATEMENTS = 1000
# The update queue's index of older versions, dropped at start-up (Store.ensure_indexes).
UNUSED_QUEUE_INDEX = "queued_at_ns_1"
# MongoDB's duplicate-key error code: an insert a crashed flush already made.
DUPLICATE_KEY = 11000


class StoreError(Exception):
    """The store could not be reached or refused a write."""


class DispatchOwned(Exception):
    """Another live process owns dispatch on this buffer."""


@dataclasses.dataclass
class Batch:
    """What one group commit writes, per collection: inserts, ``$set``s, replacements, deletes."""

    inserts: dict[str, list[dict]] = dataclasses.field(default_factory=dict)
    sets: dict[str, dict[Any, dict]] = dataclasses.field(default_factory=dict)
    replaces: dict[str, dict[Any, dict]] = dataclasses.field(default_factory=dict)
    deletes: dict[str, set] = dataclasses.field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.inserts or self.sets or self.replaces or self.deletes)

    def statements(self) -> int:
        return (sum(map(len, self.inserts.values())) + sum(map(len, self.sets.values()))
                + sum(map(len, self.replaces.values())) + sum(map(len, self.deletes.values())))


@dataclasses.dataclass
class Loaded:
    """The buffer's contents, read once at start-up."""

    tasks: list[dict]
    done_ids: set
    workers: list[dict]
    updates: list[dict]
    blocklist: list[dict]
    settings: list[dict]


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in runs of at most ``size`` (bulk commands here; state changes in the sync daemon)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Store:
    """The manager's own database (``database_url``; never the Server's)."""

    def __init__(self, database_url: str) -> None:
        self.client: pymongo.MongoClient = pymongo.MongoClient(
            database_url, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS)
        self.db: Database = self.client.get_default_database("flamanager")
        self.commands = 0  # bulk/single commands sent, for the dashboard and the benchmark

    def close(self) -> None:
        self.client.close()

    def ensure_indexes(self) -> None:
        """The blocklist's uniqueness; no index that nothing queries.

        Start-up loads read whole collections and sort in memory, so the update
        queue, whose documents are each inserted and deleted once, has only its
        ``_id`` index: a ``queued_at_ns`` index made each of those writes about a
        third dearer on FerretDB (1,000 inserts and deletes in batches of 50, measured
        2026-12-04). Buffers made before that lose it here.
        """
        self.db[BLACKLIST].create_index([("worker_id", 1), ("job_id", 1), ("task_type", 1)], unique=True)
        if UNUSED_QUEUE_INDEX in self.db[UPDATE_QUEUE].index_information():
            self.db[UPDATE_QUEUE].drop_index(UNUSED_QUEUE_INDEX)

    # -- start-up -------------------------------------------------------------

    def load(self) -> Loaded:
        """Everything the in-memory state is rebuilt from."""
        done = list(self.db[TASKS_DONE].find({}))
        done_ids = {t["_id"] for t in done}
        # A crash between a move's insert and delete leaves a task in both; the finished copy is the newer.
        return Loaded(tasks=[t for t in self.db[TASKS].find({}) if t["_id"] not in done_ids] + done,
                      done_ids=done_ids,
                      workers=list(self.db[WORKERS].find({})),
                      updates=sorted(self.db[UPDATE_QUEUE].find({}), key=lambda d: (d["queued_at_ns"], d["_id"])),
                      blocklist=list(self.db[BLACKLIST].find({})),
                      settings=[d for d in self.db[SETTINGS].find({}) if d["_id"] != OWNER_DOC])

    # -- group commit ---------------------------------------------------------

    def apply(self, batch: Batch) -> None:
        """Write a batch: per collection one bulk command per kind (chunked). Idempotent on re-try."""
        try:
            for name, inserted in batch.inserts.items():
                self._bulk(name, [InsertOne(d) for d in inserted])
            for name, sets in batch.sets.items():
                self._bulk(name, [UpdateOne({"_id": i}, {"$set": f}) for i, f in sets.items()])
            for name, docs in batch.replaces.items():
                self._bulk(name, [ReplaceOne({"_id": i}, d, upsert=True) for i, d in docs.items()])
            for name, ids in batch.deletes.items():
                for chunk in chunks(sorted(ids, key=str), MAX_STATEMENTS):
                    self.commands += 1
                    self.db[name].delete_many({"_id": {"$in": chunk}})
        except PyMongoError as ex:
            raise StoreError(str(ex)) from ex

    def _bulk(self, name: str, ops: list) -> None:
        for chunk in chunks(ops, MAX_STATEMENTS):
            self.commands += 1
            try:
                self.db[name].bulk_write(chunk, ordered=False)
            except BulkWriteError as ex:
                # A re-tried flush finds its own inserts from the failed try: fine. Any other
                # refusal is about the document itself and would fail again on every retry, so
                # it is reported, not retried: one bad document must not stop every later write.
                others = [e for e in ex.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
                for error in others:
                    log.error("the store refused a write to %s: %s", name, str(error.get("errmsg"))[:500])

    # -- small direct operations (admin commands, rejects) -------------------

    def count_rejects(self) -> int:
        return self.db[UPDATE_REJECTS].count_documents({})

    # -- the dispatch owner lock ---------------------------------------------

    def acquire_owner(self, owner: str, now: dt.datetime, stale_after: float) -> None:
        """Become the one process dispatching from this buffer, or raise DispatchOwned.

        A unique ``_id`` insert decides between racing starters (atomic on
        FerretDB and MongoDB alike). An existing lock is taken over when its
        heartbeat is older than ``stale_after`` seconds, or at once when its
        process is on this host and no longer alive (a kill -9 and restart).
        """
        settings = self.db[SETTINGS]
        doc = {"_id": OWNER_DOC, "owner": owner, "host": socket.gethostname(), "pid": os.getpid(),
               "heartbeat": now, "started": now}
        for _attempt in range(3):
            try:
                settings.insert_one(doc)
                return
            except DuplicateKeyError:
                pass
            current = settings.find_one({"_id": OWNER_DOC})
            if current is None:
                continue
            if not self._owner_gone(current, now, stale_after):
                raise DispatchOwned(
                    f"process {current.get('pid')} on {current.get('host')} already dispatches from this "
                    f"database (heartbeat {current.get('heartbeat')}); one manager process per database")
            settings.delete_one({"_id": OWNER_DOC, "owner": current.get("owner")})
        raise DispatchOwned("could not take over the dispatch lock (another process is starting)")

    @staticmethod
    def _owner_gone(current: dict, now: dt.datetime, stale_after: float) -> bool:
        beat = current.get("heartbeat")
        if beat is None or (now - beat).total_seconds() > stale_after:
            return True
        pid = current.get("pid")
        if current.get("host") == socket.gethostname() and isinstance(pid, int) and pid != os.getpid():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    def heartbeat(self, owner: str, now: dt.datetime) -> bool:
        """Refresh the lock; False when another process took it over (this one must stop)."""
        result = self.db[SETTINGS].update_one({"_id": OWNER_DOC, "owner": owner}, {"$set": {"heartbeat": now}})
        return result.matched_count == 1

    def release_owner(self, owner: str) -> None:
        try:
            self.db[SETTINGS].delete_one({"_id": OWNER_DOC, "owner": owner})
        except PyMongoError:
            pass  # the lock goes stale on its own

