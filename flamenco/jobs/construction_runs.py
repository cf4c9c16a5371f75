"""Construction runs: compile a job into tasks safely, in the request or in Celery (reference §3.7).

A construction *run* claims the job (a random token in ``construction_run``,
written only if the job's ``_etag`` is still the one read), compiles it,
inserts the tasks in batches (touching the job's ``_updated`` between them
to show it is alive), then publishes or fails the job and drops the token.
Runs may die anywhere (a killed Celery worker, a crashed server): the token
left behind says the job may hold tasks of a dead run, which the next run
deletes before compiling, so a resumed construction never duplicates tasks.

The status transitions themselves (and their vocabulary) are the rules of
:mod:`flamenco.status`, which also writes them (``start_construction``,
``finish_construction``); this module is the lease protocol around them,
kept apart so the rules do not depend on the job compilers.
"""
from __future__ import annotations

import dataclasses
import datetime
import secrets
from typing import Any, Mapping

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, job_compilers, status, task_counts
from flamenco.store.collections import JOBS, MANAGERS, TASK_LOGS, TASKS
from flamenco_protocol.statuses import JobStatus, TaskStatus

# Jobs that have no tasks (any more), so compiling them cannot duplicate tasks;
# finished jobs with tasks go through recreate_job, which deletes them first.
CONSTRUCTIBLE_JOB_STATES = frozenset({JobStatus.WAITING_FOR_FILES, JobStatus.UNDER_CONSTRUCTION,
                                      JobStatus.CONSTRUCTION_FAILED})

# The token of the construction run that holds the job; absent when none does.
CONSTRUCTION_RUN_FIELD = "construction_run"
# Runs started on the job since it was last published or failed.
CONSTRUCTION_ATTEMPTS_FIELD = "construction_attempts"
# The lease a run holds on the job, dropped when it publishes or fails the job.
LEASE_FIELDS = (CONSTRUCTION_RUN_FIELD, CONSTRUCTION_ATTEMPTS_FIELD)
# A job whose runs keep dying (say, the worker runs out of memory compiling it)
# fails after this many attempts instead of being resumed forever.
MAX_CONSTRUCTION_ATTEMPTS = 3
# Tasks are inserted in batches of this size with a sign of life in between:
# 5,000 tasks insert in about 2 s on the local store (one round trip on
# MongoDB; flamenco.store: insert), far below the age after which a run is
# deemed dead.
CONSTRUCTION_BATCH_SIZE = 5_000
_CLAIM_FIELDS = ("status", "_etag", "_updated", CONSTRUCTION_RUN_FIELD, CONSTRUCTION_ATTEMPTS_FIELD)


class ConstructionSuperseded(status.StatusConflict):
    """Another construction run holds the job now; this one stops and leaves the job to it."""


@dataclasses.dataclass(frozen=True)
class _Run:
    """One construction run: its token, its moment (its tasks' ``_created``) and whether it followed a dead run."""

    token: str
    now: datetime.datetime
    took_over: bool


def run_construction(db: Database, job_id: ObjectId, *, reason: str,
                     new_settings: Mapping[str, Any] | None = None, defer: bool = False,
                     now: datetime.datetime | None = None) -> status.JobStatusChange:
    """Start a construction run: compile a job into tasks and queue them (Flamenco 2's ``api_construct_job``).

    Merges ``new_settings`` into ``job.settings`` (PATCH ``construct``), sets
    ``under-construction`` with ``reason``, compiles, inserts all tasks already
    ``queued`` (``paused`` for ``start_paused``) and flips the job (to
    ``waiting-for-jobs`` while jobs in its ``depends_on`` have not completed). Any compile
    error leads to ``construction-failed`` with reason ``"<reason>; compilation
    failed: <error>"`` and no leftover tasks. With ``defer`` the compile is
    left to a background run (:func:`resume_construction`, in Celery). Raises
    :class:`status.IllegalTransition` unless the job is constructible, and
    :class:`status.StatusConflict` when a run holds the job (a dead one is finished
    by :func:`resume_construction`).
    """
    now = clock.moment(now)
    job = status.load(db, JOBS, job_id, _CLAIM_FIELDS)
    if job["status"] not in CONSTRUCTIBLE_JOB_STATES:
        raise status.IllegalTransition("status", job["status"], JobStatus.UNDER_CONSTRUCTION,
                                f"only possible from {', '.join(sorted(CONSTRUCTIBLE_JOB_STATES))}")
    if job.get(CONSTRUCTION_RUN_FIELD):
        raise status.StatusConflict(f"job {job_id} is being constructed already")
    settings = {f"settings.{key}": value for key, value in (new_settings or {}).items()}
    run = _claim_construction(db, job, reason, now, settings)
    return _compile_or_defer(db, job, run, reason, defer)


def resume_construction(db: Database, job_id: ObjectId, *, reason: str, stale_after: datetime.timedelta,
                        now: datetime.datetime | None = None) -> status.JobStatusChange | None:
    """Construct an ``under-construction`` job unless a live run holds it; None when there is nothing to do.

    What the background construction runs, so a late or duplicate request is
    harmless: a job that left ``under-construction`` is left alone, and so is
    one whose run touched it less than ``stale_after`` ago. A dead run's tasks
    are deleted first. After :data:`MAX_CONSTRUCTION_ATTEMPTS` runs the job
    becomes ``construction-failed`` instead.
    """
    now = clock.moment(now)
    job = status.load(db, JOBS, job_id, _CLAIM_FIELDS)
    if job["status"] != JobStatus.UNDER_CONSTRUCTION or _run_is_alive(job, stale_after, now):
        return None
    try:
        run = _claim_construction(db, job, reason, now)
    except status.StatusConflict:
        return None  # another run claimed it in between
    attempts = job.get(CONSTRUCTION_ATTEMPTS_FIELD, 0)
    if attempts >= MAX_CONSTRUCTION_ATTEMPTS:
        change = status.JobStatusChange(job_id=job_id, old_status=JobStatus.UNDER_CONSTRUCTION,
                                        status=JobStatus.UNDER_CONSTRUCTION)
        _fail_construction(db, change, run, f"{reason}; gave up after {attempts} construction attempts died")
        return change
    return _compile_and_publish(db, job_id, run, reason)


def stalled_constructions(db: Database, stale_after: datetime.timedelta,
                          now: datetime.datetime | None = None) -> list[ObjectId]:
    """Ids of ``under-construction`` jobs nobody touched for ``stale_after``: their run died or never started."""
    cutoff = clock.moment(now) - stale_after
    jobs = db[JOBS].find({"status": JobStatus.UNDER_CONSTRUCTION, "_updated": {"$lt": cutoff}}, projection=["_id"])
    return [job["_id"] for job in jobs]


def recreate_job(db: Database, job_id: ObjectId, *, reason: str, defer: bool = False,
                 now: datetime.datetime | None = None) -> status.JobStatusChange:
    """Delete a finished job's tasks (and their logs, which Flamenco 2 orphaned) and compile it again.

    The job is claimed before its tasks go, so a crash in between leaves a
    resumable ``under-construction`` job whose next run deletes what is left.
    With ``defer`` the compile is left to a background run, as in :func:`run_construction`.
    """
    now = clock.moment(now)
    job = status.load(db, JOBS, job_id, _CLAIM_FIELDS)
    if job["status"] not in status.RECREATABLE_JOB_STATES:
        raise status.IllegalTransition("status", job["status"], JobStatus.UNDER_CONSTRUCTION,
                                f"only {', '.join(sorted(status.RECREATABLE_JOB_STATES))} jobs can be recreated")
    run = _claim_construction(db, job, reason, now)
    delete_job_tasks(db, job_id)
    return _compile_or_defer(db, job, run, reason, defer)


def delete_job_tasks(db: Database, job_id: ObjectId) -> int:
    """Delete the job's tasks and their log chunks (Flamenco 2 orphaned the logs); how many tasks went.

    Uploaded log files are left to the Celery sweep of orphaned logs. The
    job's task counts become empty (a no-op when the job itself is gone).
    """
    with task_counts.changing(db, job_id) as counts:
        task_ids = [task["_id"] for task in db[TASKS].find({"job": job_id}, projection=["_id"])]
        if task_ids:
            db[TASK_LOGS].delete_many({"task": {"$in": task_ids}})
        deleted = db[TASKS].delete_many({"job": job_id}).deleted_count
        counts.replace({})
    return deleted


def _compile_or_defer(db: Database, job: Mapping[str, Any], run: _Run, reason: str, defer: bool) -> status.JobStatusChange:
    """Compile the claimed job now, or (``defer``) release it for a background run.

    A released job is ``under-construction`` without a run token or attempts,
    exactly as job POST stores a big job, so :func:`resume_construction`
    claims it at once and the sweep finds it if the message to Celery is lost.
    """
    if not defer:
        return _compile_and_publish(db, job["_id"], run, reason)
    change = status.JobStatusChange(job_id=job["_id"], old_status=job["status"], status=job["status"])
    _finish_construction(db, change, run, JobStatus.UNDER_CONSTRUCTION)
    return change


def _run_is_alive(job: Mapping[str, Any], stale_after: datetime.timedelta, now: datetime.datetime) -> bool:
    """Whether a run holds the job and touched it within ``stale_after``."""
    updated = job.get("_updated")
    if not job.get(CONSTRUCTION_RUN_FIELD) or not isinstance(updated, datetime.datetime):
        return False
    return clock.as_utc(updated) > now - stale_after


def _claim_construction(db: Database, job: Mapping[str, Any], reason: str, now: datetime.datetime,
                        also: Mapping[str, Any] | None = None) -> _Run:
    """Set ``under-construction`` with ``reason`` and a fresh run token, if the job is unchanged since read
    (:func:`status.start_construction`, which raises :class:`status.StatusConflict` otherwise).

    Tasks of a dead run (the job still had a token) are deleted before anything is compiled.
    """
    run = _Run(token=secrets.token_hex(16), now=now, took_over=bool(job.get(CONSTRUCTION_RUN_FIELD)))
    attempts = job.get(CONSTRUCTION_ATTEMPTS_FIELD, 0) + 1
    status.start_construction(db, job, reason, now, also={**(also or {}), CONSTRUCTION_RUN_FIELD: run.token,
                                                          CONSTRUCTION_ATTEMPTS_FIELD: attempts})
    if run.took_over:
        db[TASKS].delete_many({"job": job["_id"]})
    return run


def _compile_and_publish(db: Database, job_id: ObjectId, run: _Run, reason: str) -> status.JobStatusChange:
    """Compile the job, insert its tasks already ``queued``/``paused``, then flip the job alone.

    Not Flamenco 2's insert-then-flip of every task: on the local store each
    updated document costs far more than an inserted one (flamenco.store:
    write). Inserting tasks in their final status is equivalent, because the
    depsgraph only hands out tasks of runnable jobs and the job becomes
    runnable after the insert. The flip needs no task-status count either: a freshly compiled job
    has tasks and none is completed, so no follow-up status applies. A failure
    leaves no task behind (§14.14).
    """
    job = status.load(db, JOBS, job_id, None)
    task_status = TaskStatus.PAUSED if job.get("start_paused") else TaskStatus.QUEUED
    change = status.JobStatusChange(job_id=job_id, old_status=JobStatus.UNDER_CONSTRUCTION,
                                    status=JobStatus.UNDER_CONSTRUCTION)
    try:
        manager = db[MANAGERS].find_one({"_id": job.get("manager")}, projection=["worker_task_types"])
        tasks = job_compilers.compile_job(job, manager=manager, now=run.now)
        if not tasks:
            raise ValueError("the job has no tasks")
        for task in tasks:
            task["status"] = task_status
        _insert_tasks(db, job_id, run, tasks)
        if run.took_over:  # a run deemed dead may have inserted one more batch after this run began
            db[TASKS].delete_many({"job": job_id, "_created": {"$ne": run.now}})
        _finish_construction(db, change, run, _published_status(db, job_id, task_status),
                             task_count=len(tasks), task_status=task_status)
    except ConstructionSuperseded:
        db[TASKS].delete_many({"job": job_id, "_created": run.now})
        raise
    except Exception as ex:  # noqa: BLE001 - any failure must end in construction-failed, never a stuck job
        _fail_construction(db, change, run, f"{reason}; compilation failed: {ex}")
        return change
    change.tasks_modified = len(tasks)
    return change


def _published_status(db: Database, job_id: ObjectId, task_status: str) -> str:
    """The job's status once its tasks are in: as its tasks, or ``waiting-for-jobs`` while jobs it
    depends on have not completed (its queued tasks then wait in a job the depsgraph skips).
    A job started paused stays paused: queueing it later waits for the dependencies (flamenco.status)."""
    if task_status == TaskStatus.QUEUED and status.unmet_dependencies(db, job_id):
        return JobStatus.WAITING_FOR_JOBS
    return JobStatus(task_status)


def _insert_tasks(db: Database, job_id: ObjectId, run: _Run, tasks: list[dict]) -> None:
    """``insert_many`` in batches, proving the run alive (and still the job's) before each later batch."""
    for start in range(0, len(tasks), CONSTRUCTION_BATCH_SIZE):
        if start:
            _touch_claimed_job(db, job_id, run)
        db[TASKS].insert_many(tasks[start:start + CONSTRUCTION_BATCH_SIZE], ordered=False)


def _touch_claimed_job(db: Database, job_id: ObjectId, run: _Run) -> None:
    """Refresh the job's ``_updated`` (the run's sign of life); :class:`ConstructionSuperseded` if it lost the job."""
    result = db[JOBS].update_one(
        {"_id": job_id, "status": JobStatus.UNDER_CONSTRUCTION, CONSTRUCTION_RUN_FIELD: run.token},
        {"$set": status.stamp(clock.utcnow())})
    if result.matched_count == 0:
        raise ConstructionSuperseded(f"job {job_id} is no longer held by this construction run")


def _fail_construction(db: Database, change: status.JobStatusChange, run: _Run, reason: str) -> None:
    """Delete the job's tasks, then mark it ``construction-failed``: a crash in between leaves it resumable."""
    try:
        _touch_claimed_job(db, change.job_id, run)
    except ConstructionSuperseded:
        db[TASKS].delete_many({"job": change.job_id, "_created": run.now})
        raise
    db[TASKS].delete_many({"job": change.job_id})
    _finish_construction(db, change, run, JobStatus.CONSTRUCTION_FAILED, reason)


def _finish_construction(db: Database, change: status.JobStatusChange, run: _Run, new_status: str, reason: str = "",
                         *, task_count: int = 0, task_status: str = "") -> None:
    """The last step of a run: the job leaves ``under-construction`` (its tasks become visible) and drops the token
    (:func:`status.finish_construction`).

    The job's ``task_count`` tasks are all in ``task_status`` (default: ``new_status``;
    none when the construction failed or was deferred): the run holds the job,
    so it stores those task counts in the same write.
    """
    counts = {task_status or new_status: task_count} if task_count else {}
    if not status.finish_construction(db, change, new_status, reason, extra_filter={CONSTRUCTION_RUN_FIELD: run.token},
                                      unset=LEASE_FIELDS, tasks=counts, at=run.now):
        raise ConstructionSuperseded(f"job {change.job_id} is no longer held by this construction run")
