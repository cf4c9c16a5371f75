"""Per-job task counts kept in the job document: ``task_counts: {status: number of tasks}``.

Why: the task -> job rules need a job's task counts on nearly every Manager
task-update batch, and counting them reads every task of the job. On the
local store any query that is not by ``_id`` decodes each selected document
in Go (flamenco.store: scan): counting a 2,000-task job took 0.2-0.5 s of
store time. The job document is one read by ``_id``.

How the counts stay equal to a real count of the tasks:

- Every code path that changes task statuses, creates or deletes tasks is a
  *writer* (:func:`changing`, :func:`changing_many`): it registers itself in
  the job (``task_counts_writers.<token>``), writes the tasks, records what the
  writes did (:meth:`CountChange.moved` per old status, :meth:`~CountChange.added`,
  :meth:`~CountChange.replace` after deleting or building all tasks), then
  commits with one update of the job: ``$inc`` of the per-status deltas and
  removal of its token. Writers never write counts computed from a read, so
  concurrent writers (Celery, web requests, the Manager API) add up.
- :func:`recount` is the only other writer of ``task_counts``: it counts the
  tasks with one aggregation and stores the result, only if no live writer is
  registered and nothing changed the counters meanwhile (``task_counts_seq``,
  incremented by every writer's registration and commit, is unchanged).
- A writer that cannot tell what its writes did (a write error, a task that
  another writer changed concurrently) marks the counts stale
  (``task_counts_stale``); a writer that died between its task writes and its
  commit leaves its token behind, which is deemed dead after
  :data:`WRITER_DEAD_AFTER`; a writer whose token a recount removed (it was
  deemed dead but was not) marks the counts stale at its commit. :func:`read`
  recounts in all these cases, and for jobs stored before the counters existed.

This relies on MongoDB applying each update statement atomically per
document; our build of the local store does the same (flamenco.store: atomic).

Between a writer's task writes and its commit, the counts lag behind the
tasks, as a count taken just before the writes would; every rule runs after
its own writer committed, so the last writer of a job decides with all changes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import secrets
from collections import Counter
from typing import Any, Iterable, Iterator, Mapping

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.database import Database

from flamenco import clock
from flamenco.store.collections import JOBS, TASKS
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)

# Job fields of the counters (server-owned: not in the Eve schema, so never on the wire).
COUNTS_FIELD = "task_counts"
# token -> time a writer registered; present while it writes the job's tasks.
WRITERS_FIELD = "task_counts_writers"
# Incremented by every registration, commit and recount: a recount stores its
# result only if nothing happened to the counters while it counted.
SEQ_FIELD = "task_counts_seq"
# Set when some writer could not tell what its writes did: the next read recounts.
STALE_FIELD = "task_counts_stale"
COUNTER_FIELDS = (COUNTS_FIELD, WRITERS_FIELD, SEQ_FIELD, STALE_FIELD)

# A writer registered longer ago than this is deemed dead (its process was
# killed between its task writes and its commit) and the counts are recounted.
# Writers live for one task-update batch, depsgraph claim or status change:
# far below a second on MongoDB, a few seconds for 10,000 tasks on the local
# store (flamenco.store: write).
# Deeming a slow live writer dead costs one more recount, never a wrong count.
WRITER_DEAD_AFTER = datetime.timedelta(minutes=2)
# Jobs whose tasks a construction run is inserting in batches, outside the
# writer protocol: counts are read from the tasks and never stored then (the
# run stores the final counts when it publishes the job, with ``replace``).
UNCOUNTED_JOB_STATES = frozenset({JobStatus.UNDER_CONSTRUCTION})
# Ids per ``$in`` of a task update: the local store pushes an ``$in`` of at
# most 10,000 ObjectIds down to SQLite (flamenco.store: scan).
IDS_PER_UPDATE = 5_000

Counts = dict[str, int]


def aggregate(db: Database, job_id: ObjectId) -> Counts:
    """The real count: tasks of the job per status, from the tasks themselves (one aggregation)."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"job": job_id}},
        {"$group": {"_id": "$status", "count": {"$sum": 1}}},
    ]
    return {row["_id"]: row["count"] for row in db[TASKS].aggregate(pipeline)}


def _positive(counts: Mapping[str, Any]) -> Counts:
    """Counts without the zero entries ``$inc`` leaves behind: a status with no task is absent."""
    return {status: int(n) for status, n in counts.items() if n}


def _writer_is_dead(started: Any, now: datetime.datetime) -> bool:
    if not isinstance(started, datetime.datetime):
        return True
    return clock.as_utc(started) < now - WRITER_DEAD_AFTER


def _trusted_counts(job: Mapping[str, Any], now: datetime.datetime) -> Counts | None:
    """The job's stored counts when they can be used as they are, else None."""
    counts = job.get(COUNTS_FIELD)
    if not isinstance(counts, dict) or job.get(STALE_FIELD) or job.get("status") in UNCOUNTED_JOB_STATES:
        return None
    if any(not isinstance(n, int) or n < 0 for n in counts.values()):
        return None
    if any(_writer_is_dead(started, now) for started in (job.get(WRITERS_FIELD) or {}).values()):
        return None
    return _positive(counts)


_READ_FIELDS = ["status", *COUNTER_FIELDS]


def read(db: Database, job_id: ObjectId, *, now: datetime.datetime | None = None) -> Counts:
    """The job's task counts per status (statuses without tasks absent); ``{}`` for a job that does not exist.

    One read of the job document; recounts (:func:`recount`) when the job has
    no counts yet (stored before they existed), they are stale, or a writer died.
    """
    return read_many(db, [job_id], now=now)[job_id]


def read_many(db: Database, job_ids: Iterable[ObjectId], *,
              now: datetime.datetime | None = None) -> dict[ObjectId, Counts]:
    """:func:`read` for several jobs (a page of the job list) with one read of their documents."""
    now = now or clock.utcnow()
    wanted = list(dict.fromkeys(job_ids))
    if not wanted:
        return {}
    found = {job["_id"]: job for job in db[JOBS].find({"_id": {"$in": wanted}}, projection=_READ_FIELDS)}
    return {job_id: _counts_of(db, found.get(job_id), now) for job_id in wanted}


def _counts_of(db: Database, job: Mapping[str, Any] | None, now: datetime.datetime) -> Counts:
    if job is None:
        return {}
    counts = _trusted_counts(job, now)
    return counts if counts is not None else _recount(db, job, now)


def recount(db: Database, job_id: ObjectId, *, now: datetime.datetime | None = None) -> Counts:
    """Count the job's tasks with one aggregation and store the result when that is safe; return it.

    Stored only when no live writer is registered and the counters did not
    change while counting (otherwise the next :func:`read` tries again); the
    tokens of dead writers are removed with it.
    """
    job = db[JOBS].find_one({"_id": job_id}, projection=_READ_FIELDS)
    if job is None:
        return aggregate(db, job_id)
    return _recount(db, job, now or clock.utcnow())


def _recount(db: Database, job: Mapping[str, Any], now: datetime.datetime) -> Counts:
    counts = aggregate(db, job["_id"])
    writers = job.get(WRITERS_FIELD) or {}
    if job.get("status") in UNCOUNTED_JOB_STATES or not all(_writer_is_dead(w, now) for w in writers.values()):
        return counts
    seq = job.get(SEQ_FIELD)
    query = {"_id": job["_id"], SEQ_FIELD: seq if seq is not None else {"$exists": False}}
    db[JOBS].update_one(query, {"$set": {COUNTS_FIELD: {s: n for s, n in counts.items() if isinstance(s, str)}},
                                "$unset": {WRITERS_FIELD: "", STALE_FIELD: ""},
                                "$inc": {SEQ_FIELD: 1}})
    return counts


def mark_stale(db: Database, job_id: ObjectId) -> None:
    """Make the next :func:`read` recount: for writes outside the writer protocol (scripts, repairs, tests)."""
    db[JOBS].update_one({"_id": job_id}, {"$set": {STALE_FIELD: True}, "$inc": {SEQ_FIELD: 1}})


def forget_update() -> dict[str, Any]:
    """Update operators (merge into a job write) that drop the counts: for a job whose tasks are being rebuilt.

    Writers still registered then commit without counting; :func:`read`
    recounts until a construction run stores the counts with ``replace``.
    """
    return {"$unset": {COUNTS_FIELD: "", STALE_FIELD: ""}, "$inc": {SEQ_FIELD: 1}}


def replace_update(counts: Mapping[str, int]) -> dict[str, Any]:
    """Update operators (merge into a job write) that store ``counts`` as the job's exact task counts.

    For writers that know the whole result: they deleted every task, or a
    construction run that holds the job inserted all of them. Every registered
    writer's token goes: one that was still writing marks the counts stale at
    its commit, so the next read recounts.
    """
    return {"$set": {COUNTS_FIELD: _positive(counts)}, "$unset": {WRITERS_FIELD: "", STALE_FIELD: ""},
            "$inc": {SEQ_FIELD: 1}}


def merge_updates(*updates: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """One update document from several (``$set`` of one with ``$unset`` of another ...)."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for operator, fields in update.items():
            merged.setdefault(operator, {}).update(fields)
    return merged


@dataclasses.dataclass
class CountChange:
    """What one writer's task writes did to one job's task counts, committed by :func:`changing`."""

    job_id: ObjectId
    token: str
    deltas: Counter = dataclasses.field(default_factory=Counter)
    replaced: Counts | None = None   # the job's exact counts after the writes (replace)
    stale: bool = False              # some write's effect is unknown: recount on next read

    def moved(self, old: str, new: str, n: int = 1) -> None:
        """``n`` tasks went from ``old`` to ``new`` (nothing when they are the same status)."""
        if n and old != new:
            self.deltas[old] -= n
            self.deltas[new] += n

    def added(self, status: str, n: int = 1) -> None:
        """``n`` tasks with ``status`` were inserted."""
        self.deltas[status] += n

    def removed(self, status: str, n: int = 1) -> None:
        """``n`` tasks with ``status`` were deleted."""
        self.deltas[status] -= n

    def replace(self, counts: Mapping[str, int]) -> None:
        """The job's tasks are now exactly ``counts`` (all deleted: ``{}``)."""
        self.replaced = dict(counts)
        self.deltas.clear()

    def unknown(self) -> None:
        """A write whose effect on the counts is not known: the next read recounts."""
        self.stale = True

    @property
    def _token_field(self) -> str:
        return f"{WRITERS_FIELD}.{self.token}"


def _begin(db: Database, job_ids: Iterable[ObjectId], now: datetime.datetime) -> dict[ObjectId, CountChange]:
    """Register one writer for the jobs: one command, whatever the number of jobs."""
    token = secrets.token_hex(8)
    changes = {job_id: CountChange(job_id=job_id, token=token) for job_id in job_ids}
    if changes:
        db[JOBS].bulk_write([UpdateOne({"_id": job_id}, {"$set": {f"{WRITERS_FIELD}.{token}": now},
                                                         "$inc": {SEQ_FIELD: 1}})
                             for job_id in changes], ordered=False)
    return changes


def _commit(db: Database, change: CountChange) -> None:
    """Apply one job's change and unregister the writer: one update in the common case.

    The fallbacks, each conditional on what the job holds: counts dropped
    meanwhile (a construction rebuilds the tasks) -> only unregister; the
    writer's token removed by a recount or a replace -> mark the counts stale,
    since this writer's writes may be missing from them.
    """
    token_field = change._token_field
    if change.replaced is not None:
        db[JOBS].update_one({"_id": change.job_id}, replace_update(change.replaced))
        return
    inc: dict[str, int] = {f"{COUNTS_FIELD}.{status}": n for status, n in change.deltas.items() if n}
    update: dict[str, Any] = {"$inc": {**inc, SEQ_FIELD: 1}, "$unset": {token_field: ""}}
    if change.stale:
        update["$set"] = {STALE_FIELD: True}
    counted = db[JOBS].update_one({"_id": change.job_id, token_field: {"$exists": True},
                                   COUNTS_FIELD: {"$exists": True}}, update)
    if counted.matched_count:
        return
    uncounted = db[JOBS].update_one({"_id": change.job_id, token_field: {"$exists": True},
                                     COUNTS_FIELD: {"$exists": False}},
                                    {"$unset": {token_field: ""}, "$inc": {SEQ_FIELD: 1}})
    if uncounted.matched_count:
        return
    db[JOBS].update_one({"_id": change.job_id, token_field: {"$exists": False}},
                        {"$set": {STALE_FIELD: True}, "$inc": {SEQ_FIELD: 1}})


@contextlib.contextmanager
def changing_many(db: Database, job_ids: Iterable[ObjectId], *,
                  now: datetime.datetime | None = None) -> Iterator[dict[ObjectId, CountChange]]:
    """Register as writer of the jobs' tasks, yield one :class:`CountChange` per job, then commit each.

    Write the tasks inside the block and record there what the writes did. If
    the block raises, what was recorded is committed and the counts are
    marked stale (the failed write may have applied), then the error goes on.
    ``now`` is the registration time, by which a writer is deemed dead
    (:data:`WRITER_DEAD_AFTER`): the wall clock unless a test injects it.
    """
    changes = _begin(db, dict.fromkeys(job_ids), now or clock.utcnow())
    try:
        yield changes
    except BaseException:
        for change in changes.values():
            change.unknown()
            try:
                _commit(db, change)
            except Exception:  # noqa: BLE001 - the block's error matters; the token left behind dies
                log.exception("could not commit the task counts of job %s", change.job_id)
        raise
    for change in changes.values():
        _commit(db, change)


@contextlib.contextmanager
def changing(db: Database, job_id: ObjectId, *, now: datetime.datetime | None = None) -> Iterator[CountChange]:
    """:func:`changing_many` for one job."""
    with changing_many(db, [job_id], now=now) as changes:
        yield changes[job_id]
