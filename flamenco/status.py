"""Every job and task status rule of the server, in one module (reference v2-server.md §3).

This module is the only writer of ``status``; a static check of the server's
source keeps it so (tests/server/status/test_status_writers.py). What writes it:

- Job status: :func:`set_job_status` with its chain of follow-up statuses
  (users, Celery archival, the release or failure of a waiting job in
  flamenco.jobs.dependencies), the task -> job rule
  :func:`update_job_after_task_status_change`, and a construction run's
  :func:`start_construction` and :func:`finish_construction` (the run's
  lease protocol is flamenco.jobs.construction_runs).
- Task status: :func:`set_task_status`, the task effects of a job status
  change (:func:`handle_job_status_change`: pause, queue, requeue, cancel),
  :func:`requeue_failed_tasks`, :func:`requeue_task_with_successors`,
  :func:`requeue_task` (PATCH rna-overrides), the depsgraph claim
  :func:`mark_tasks_claimed`, and a Manager's task-update batch
  :func:`write_reported_tasks` (its parsing, folding and watermarks:
  flamenco.manager_api.task_updates).

Elsewhere only new documents get a status, inserted with their first one:
job submission, the tasks of a construction run, a new rna-overrides task.

HTTP hooks, PATCH handlers, the Manager API, Celery jobs and the dashboard
call the functions below and react to what they return (the new job status,
how many tasks changed, ...). Every change announces itself on
:mod:`flamenco.eventbus` after it is written, so no caller has to remember to
publish it (live updates, notifications); a construction run is announced
once, when it ends, and :func:`requeue_task` by its caller's job change.

Functions take a PyMongo ``Database`` (collections ``flamenco_jobs`` and
``flamenco_tasks``) and ids.  Each rule is one ``update_many`` with a filter per
old task status, so a rule costs a fixed number of round trips whatever the
size of the job; a Manager's batch is one ``bulk_write`` of one statement per
task. Task counts per status are kept in the job document by every
writer of task statuses (:mod:`flamenco.task_counts`), so no rule counts the
tasks. Every write sets ``_updated`` (tz-aware UTC) and a fresh random
``_etag`` (documents changed by the same ``update_many`` share it); only the
depsgraph claim keeps both, as the protocol requires (:func:`mark_tasks_claimed`).

Cost on the local store: each *written* document costs far more than the
command around it (flamenco.store: write; on MongoDB it is one indexed
write). Rules therefore write each document once, and construction inserts
tasks in their final status instead of updating them.

Deviations from Flamenco 2, each a fix of reference §14:

- Transitions are validated per actor (user, manager, system); illegal ones
  raise :class:`IllegalTransition` (§14.8, §14.13).
- A job status change always runs its chained follow-up transitions, whoever
  calls it, so ``requeued`` never sticks (§14.9).
- Task ``_updated`` is the server's clock, never the Manager's (§14.10).
- New: ``waiting-for-jobs``, a compiled job waiting for the jobs in its
  ``depends_on``; a job queued again before they completed waits again
  (:func:`unmet_dependencies`; releasing and failing it: flamenco.jobs.dependencies).
- The rest is documented on the function that implements it (§14.11, §14.14,
  §14.15).
"""
from __future__ import annotations

import dataclasses
import datetime
import enum
import logging
import secrets
from typing import Any, Iterable, Iterator, Mapping, TypeVar

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.database import Database

from flamenco import clock, eventbus, task_counts
from flamenco.clock import moment
from flamenco.store.collections import JOBS, TASKS
from flamenco_protocol.statuses import FINAL_TASK_STATUSES, JobStatus, TaskStatus

log = logging.getLogger(__name__)

# --- Status vocabularies (reference §2.2, §2.3; flamenco_protocol.statuses) -------

# Every status, for ``in`` tests of what a request asks for: Python 3.11's
# ``in`` on an Enum class raises for a string that is no member.
JOB_STATUSES: tuple[JobStatus, ...] = tuple(JobStatus)
TASK_STATUSES: tuple[TaskStatus, ...] = tuple(TaskStatus)

# --- Named sets (reference §3.3) ------------------------------------------------

# UI "Cancel Job"; a paused job can be cancelled too (it would otherwise be stuck),
# and so can one waiting for other jobs.
CANCELABLE_JOB_STATES = frozenset({JobStatus.ACTIVE, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.PAUSED,
                                   JobStatus.WAITING_FOR_JOBS})
# UI "Re-queue Job" / "Queue Job" (paused).
REQUEABLE_JOB_STATES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED, JobStatus.PAUSED})
# Recreate deletes all tasks, so nothing may be running.
RECREATABLE_JOB_STATES = frozenset({JobStatus.CANCELED, JobStatus.COMPLETED, JobStatus.PAUSED,
                                    JobStatus.CONSTRUCTION_FAILED})
ARCHIVE_JOB_STATES = frozenset({JobStatus.ARCHIVING, JobStatus.ARCHIVED})
# Archival deletes the tasks, so only jobs with nothing running may be archived
# (Flamenco 2 allowed archiving an active job, §14.8).
ARCHIVEABLE_JOB_STATES = REQUEABLE_JOB_STATES | {JobStatus.CONSTRUCTION_FAILED}
FAILED_TASKS_REQUEABLE_JOB_STATES = frozenset({JobStatus.ACTIVE, JobStatus.QUEUED})
# Jobs whose priority is frozen: archived ones are read-only, and a job under
# construction is having tasks inserted with the priority it had.
PRIORITY_FROZEN_JOB_STATES = ARCHIVE_JOB_STATES | {JobStatus.UNDER_CONSTRUCTION}
# Jobs whose tasks the depsgraph hands out. Flamenco 2 also listed the task
# status 'soft-failed' here, which could never match a job (§14.11).
DEPSGRAPH_RUNNABLE_JOB_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.ACTIVE, JobStatus.CANCEL_REQUESTED})

REQUEABLE_TASK_STATES = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELED, TaskStatus.FAILED})
# "+ Successors" may also start from a queued task (reference §3.3).
REQUEABLE_WITH_SUCCESSORS_TASK_STATES = REQUEABLE_TASK_STATES | {TaskStatus.QUEUED}
CANCELABLE_TASK_STATES = frozenset({TaskStatus.QUEUED, TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.ACTIVE,
                                    TaskStatus.SOFT_FAILED})
FAILED_TASK_STATES = frozenset({TaskStatus.CANCELED, TaskStatus.FAILED})
QUEUED_TASK_STATES = frozenset({TaskStatus.QUEUED, TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.SOFT_FAILED})
LOG_UPLOAD_REQUESTABLE_TASK_STATES = frozenset({
    TaskStatus.CANCELED, TaskStatus.CANCEL_REQUESTED, TaskStatus.FAILED, TaskStatus.COMPLETED,
    TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.SOFT_FAILED,
})
ALLOWED_TASK_STATUSES_FROM_WEB = frozenset({TaskStatus.CANCEL_REQUESTED, TaskStatus.QUEUED})
# The protocol's rule, which the Manager keeps too: a cancel-requested task may only end.
ACCEPTED_AFTER_CANCEL_REQUESTED = frozenset(FINAL_TASK_STATUSES)
DEPSGRAPH_CLEAN_SLATE_TASK_STATUSES = frozenset({
    TaskStatus.QUEUED, TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.ACTIVE, TaskStatus.CANCEL_REQUESTED,
    TaskStatus.SOFT_FAILED,
})
DEPSGRAPH_MODIFIED_SINCE_TASK_STATUSES = frozenset({TaskStatus.QUEUED, TaskStatus.CLAIMED_BY_MANAGER,
                                                    TaskStatus.SOFT_FAILED})
# Tasks a Manager or Worker may be working on: requeueing them would hand the
# same work out twice (Flamenco 2's task requeue did that, §14.13).
IN_FLIGHT_TASK_STATES = frozenset({TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.ACTIVE, TaskStatus.CANCEL_REQUESTED})

# A job fails once this percentage of its tasks failed (Flamenco 3's
# taskFailJobPercentage; reference §3.5).
TASK_FAIL_JOB_PERCENTAGE = 10

# Statuses a Manager may report for a task. It never owns the server-side
# statuses (under-construction, paused, queued) nor may it request a cancel.
MANAGER_SETTABLE_TASK_STATUSES = frozenset({
    TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.ACTIVE, TaskStatus.COMPLETED, TaskStatus.FAILED,
    TaskStatus.SOFT_FAILED, TaskStatus.CANCELED,
})

# Depth limit of the successor walk of a task requeue (Flamenco 2 used 10 000);
# guards against cycles a hand-edited task could create.
MAX_SUCCESSOR_DEPTH = 10_000


class Actor(str, enum.Enum):
    """Who asks for a status change; decides which transitions are legal."""

    USER = "user"          # a person through the web UI or the REST API
    MANAGER = "manager"    # a Flamenco Manager reporting on its tasks
    SYSTEM = "system"      # the server itself: compilers, rules, Celery jobs


class IllegalTransition(ValueError):
    """A status change that the rules forbid; HTTP layers turn it into a 4xx.

    ``field`` names the offending field (``status`` or ``job_type`` ...),
    ``old``/``new`` are the statuses, ``reason`` a human-readable explanation.
    """

    def __init__(self, field: str, old: str | None, new: str, reason: str) -> None:
        super().__init__(f"{field}: cannot go from {old!r} to {new!r}: {reason}")
        self.field = field
        self.old = old
        self.new = new
        self.reason = reason


class NotFound(LookupError):
    """The job or task to change does not exist (HTTP 404)."""


@dataclasses.dataclass
class JobStatusChange:
    """What a job status change did (the change itself announced it on ``flamenco.eventbus``)."""

    job_id: ObjectId
    old_status: str
    status: str                      # final status, after follow-ups
    steps: list[str] = dataclasses.field(default_factory=list)  # every status written, in order
    tasks_modified: int = 0          # task documents whose status changed
    # The ``_updated`` of every document this change wrote: changed tasks are
    # ``find({"job": job_id, "_updated": at})`` (for live events).
    at: datetime.datetime | None = None


@dataclasses.dataclass
class TaskStatusChange:
    """What a task status change did, including its effect on the job."""

    task_id: ObjectId
    job_id: ObjectId | None
    old_status: str
    status: str
    job_change: JobStatusChange | None = None


# --- Small helpers ----------------------------------------------------------------


def new_etag() -> str:
    """A fresh random etag; Eve compares etags verbatim, so any unique hex will do."""
    return secrets.token_hex(20)


def stamp(now: datetime.datetime, fields: Mapping[str, Any] | None = None) -> dict:
    """The ``$set`` body of a write: the given fields plus ``_updated``/``_etag``."""
    return {**(fields or {}), "_updated": now, "_etag": new_etag()}


def load(db: Database, collection: str, doc_id: ObjectId, projection: Iterable[str] | None) -> dict:
    """The document (only the ``projection`` fields, or all when None), or :class:`NotFound`."""
    doc = db[collection].find_one({"_id": doc_id}, projection=None if projection is None else list(projection))
    if doc is None:
        kind = "job" if collection == JOBS else "task"
        raise NotFound(f"{kind} {doc_id} does not exist")
    return doc


def count_task_statuses(db: Database, job_id: ObjectId) -> dict[str, int]:
    """Number of tasks of the job per status (statuses without tasks absent).

    Read from the job document, where every writer of task statuses keeps them
    (:mod:`flamenco.task_counts`); counted from the tasks only for jobs stored
    before that, or after a writer could not tell what it changed.
    """
    return task_counts.read(db, job_id)


class LazyTaskCounts(Mapping[str, int]):
    """A job's task counts per status, read on first use: most task -> job rules need none.

    A caller that runs several rules for one job shares one instance and
    calls :meth:`forget` after a rule changed the job's tasks.
    """

    def __init__(self, db: Database, job_id: ObjectId) -> None:
        self._db, self._job_id = db, job_id
        self._counts: dict[str, int] | None = None

    def _read(self) -> dict[str, int]:
        if self._counts is None:
            self._counts = count_task_statuses(self._db, self._job_id)
        return self._counts

    def forget(self) -> None:
        self._counts = None

    def __getitem__(self, key: str) -> int:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())


def _set_tasks_status(db: Database, counts: task_counts.CountChange, from_statuses: Iterable[str],
                      new_status: str, now: datetime.datetime, *, unset: Iterable[str] = (),
                      also: Mapping[str, Any] | None = None, extra_filter: Mapping[str, Any] | None = None) -> int:
    """Tasks of the job in ``from_statuses`` (and ``extra_filter``) get ``new_status``; how many changed.

    ``also`` adds fields to the same write; ``unset`` removes fields. What
    changed is recorded in ``counts`` (see :func:`_move_tasks`).
    """
    update: dict[str, Any] = {"$set": stamp(now, {**(also or {}), "status": new_status})}
    if unset:
        update["$unset"] = {name: "" for name in unset}
    query = {"job": counts.job_id, **(extra_filter or {})}
    return _move_tasks(db, counts, query, from_statuses, new_status, update)


def _move_tasks(db: Database, counts: task_counts.CountChange, query: Mapping[str, Any],
                from_statuses: Iterable[str], new_status: str, update: Mapping[str, Any]) -> int:
    """Apply ``update`` (which sets ``new_status``) to the tasks matching ``query`` in ``from_statuses``.

    The job's task counts need to know how many tasks left each old status:
    one ``update_many`` per old status, each filtered on it, tells exactly.
    With a single old status that is the only command; with several, the
    matching tasks are read first (one query) and written per old status by
    ``_id``, so statuses without tasks cost nothing. Returns how many tasks changed.
    """
    from_statuses = sorted(set(from_statuses))
    if len(from_statuses) == 1:
        modified = db[TASKS].update_many({**query, "status": from_statuses[0]}, update).modified_count
        counts.moved(from_statuses[0], new_status, modified)
        return modified
    by_status: dict[str, list[ObjectId]] = {}
    for task in db[TASKS].find({**query, "status": {"$in": from_statuses}}, projection=["status"]):
        by_status.setdefault(task["status"], []).append(task["_id"])
    modified = 0
    for old, ids in sorted(by_status.items()):
        for start in range(0, len(ids), task_counts.IDS_PER_UPDATE):
            chunk = ids[start:start + task_counts.IDS_PER_UPDATE]
            changed = db[TASKS].update_many({**query, "_id": {"$in": chunk}, "status": old}, update).modified_count
            counts.moved(old, new_status, changed)
            modified += changed
    return modified


# --- Transition validation ----------------------------------------------------------

# Job transitions a user may ask for: new status -> statuses it may come from.
_USER_JOB_TRANSITIONS: dict[str, frozenset[JobStatus]] = {
    JobStatus.QUEUED: REQUEABLE_JOB_STATES,
    JobStatus.REQUEUED: REQUEABLE_JOB_STATES,
    JobStatus.CANCEL_REQUESTED: CANCELABLE_JOB_STATES,
    JobStatus.PAUSED: frozenset({JobStatus.QUEUED, JobStatus.ACTIVE, JobStatus.WAITING_FOR_JOBS}),
    JobStatus.ARCHIVING: ARCHIVEABLE_JOB_STATES,
}


def check_job_transition(old: str, new: str, actor: Actor) -> None:
    """Raise :class:`IllegalTransition` unless ``actor`` may move a job from ``old`` to ``new``.

    Flamenco 2 let API users set any job status (§14.8, §3.9). Here users may
    only queue, requeue, cancel, pause or archive, each from the statuses where
    it makes sense; Managers never set job statuses; the system may do anything
    except leave ``archived`` (its tasks are gone) or enter a status that is
    not in the vocabulary.
    """
    if new not in JOB_STATUSES:
        raise IllegalTransition("status", old, new, f"unknown job status; allowed: {', '.join(JOB_STATUSES)}")
    if old == JobStatus.ARCHIVED and new != JobStatus.ARCHIVED:
        raise IllegalTransition("status", old, new, "an archived job is read-only")
    if actor is Actor.SYSTEM:
        return
    if actor is Actor.MANAGER:
        raise IllegalTransition("status", old, new, "a Manager cannot change job statuses")
    allowed_from = _USER_JOB_TRANSITIONS.get(new)
    if allowed_from is None:
        raise IllegalTransition("status", old, new,
                                f"users may only set {', '.join(sorted(_USER_JOB_TRANSITIONS))}")
    if old not in allowed_from:
        raise IllegalTransition("status", old, new,
                                f"only possible from {', '.join(sorted(allowed_from))}")


def check_priority_change(job_status: str) -> None:
    """Raise :class:`IllegalTransition` when a job in ``job_status`` may not change priority."""
    if job_status in PRIORITY_FROZEN_JOB_STATES:
        raise IllegalTransition("status", job_status, job_status,
                                f"the priority of a {job_status} job cannot change")


def check_task_transition(old: str, new: str, actor: Actor) -> None:
    """Raise :class:`IllegalTransition` unless ``actor`` may move a task from ``old`` to ``new``.

    Users may cancel a cancelable task or requeue a finished one (not an
    in-flight one, §14.13). Managers follow :func:`determine_new_task_status`.
    The system may set any known status.
    """
    if new not in TASK_STATUSES:
        raise IllegalTransition("status", old, new, f"unknown task status; allowed: {', '.join(TASK_STATUSES)}")
    if actor is Actor.SYSTEM:
        return
    if actor is Actor.MANAGER:
        if determine_new_task_status(old, new) is None and old != new:
            raise IllegalTransition("status", old, new, _manager_rejection_reason(old, new))
        return
    if new == TaskStatus.CANCEL_REQUESTED:
        if old not in CANCELABLE_TASK_STATES:
            raise IllegalTransition("status", old, new,
                                    f"only possible from {', '.join(sorted(CANCELABLE_TASK_STATES))}")
    elif new == TaskStatus.QUEUED:
        if old not in REQUEABLE_TASK_STATES:
            raise IllegalTransition("status", old, new,
                                    f"only possible from {', '.join(sorted(REQUEABLE_TASK_STATES))}")
    else:
        raise IllegalTransition("status", old, new,
                                f"users may only set {', '.join(sorted(ALLOWED_TASK_STATUSES_FROM_WEB))}")


def _manager_rejection_reason(current: str, reported: str) -> str:
    if current == TaskStatus.CANCEL_REQUESTED:
        return f"a cancel-requested task only accepts {', '.join(sorted(ACCEPTED_AFTER_CANCEL_REQUESTED))}"
    return f"a Manager may only report {', '.join(sorted(MANAGER_SETTABLE_TASK_STATUSES))}"


def determine_new_task_status(current: str, reported: str | None) -> str | None:
    """The status to store for a Manager-reported ``reported`` status, or None to keep ``current``.

    As Flamenco 2 (§3.6): no status, or the same status, changes nothing; a
    ``cancel-requested`` task only accepts canceled/failed/completed. Unlike
    Flamenco 2, a Manager may not set server-owned statuses (under-construction,
    paused, queued, cancel-requested): those are ignored like unknown ones. The
    caller still applies the rest of the update (activity, log, progress).
    """
    if not reported or reported == current:
        return None
    if current == TaskStatus.CANCEL_REQUESTED:
        return reported if reported in ACCEPTED_AFTER_CANCEL_REQUESTED else None
    if reported not in MANAGER_SETTABLE_TASK_STATUSES:
        return None
    return reported


class StatusConflict(RuntimeError):
    """The document's status changed between reading and writing it (HTTP 409).

    Each write is conditional on the status it was decided from, so two
    concurrent changes cannot both apply on MongoDB (the upstream local store
    does not guarantee this; flamenco.store: atomic).
    """


# --- Job status changes (reference §3.4) ----------------------------------------------

# Jobs whose requeue would rewrite tasks that do not exist yet or are gone.
_NOT_REQUEUEABLE_JOB_STATES = frozenset({JobStatus.WAITING_FOR_FILES, JobStatus.UNDER_CONSTRUCTION,
                                         JobStatus.CONSTRUCTION_FAILED, JobStatus.ARCHIVING, JobStatus.ARCHIVED})
_REQUESTED_TO_FINAL: dict[str, JobStatus] = {JobStatus.CANCEL_REQUESTED: JobStatus.CANCELED,
                                              JobStatus.FAIL_REQUESTED: JobStatus.FAILED}
_CANCEL_STEP_JOB_STATES = frozenset({JobStatus.CANCEL_REQUESTED, JobStatus.FAIL_REQUESTED, JobStatus.FAILED})
# Tasks the cancel step hands to the Manager to stop (reference §3.4 step b).
_RUNNING_TASK_STATES = frozenset({TaskStatus.ACTIVE, TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.SOFT_FAILED})
# Filter for tasks that have no activity text yet.
_WITHOUT_ACTIVITY: dict[str, Any] = {"$or": [{"activity": {"$exists": False}}, {"activity": ""}]}


def set_job_status(db: Database, job_id: ObjectId, new_status: str, *, actor: Actor = Actor.SYSTEM,
                   reason: str = "", now: datetime.datetime | None = None) -> JobStatusChange:
    """Validate and apply a job status change, its task changes and its follow-ups.

    The chain of follow-up statuses (``requeued`` -> ``queued`` -> ``completed``,
    ``cancel-requested`` -> ``canceled`` ...) always runs, whoever calls this
    (Flamenco 2's PUT dropped it, §14.9). ``reason`` is stored as
    ``status_reason`` with the first step only, as Flamenco 2 did.
    """
    now = moment(now)
    old = load(db, JOBS, job_id, ["status"])["status"]
    check_job_transition(old, new_status, actor)
    if new_status == JobStatus.REQUEUED and old in _NOT_REQUEUEABLE_JOB_STATES:
        raise IllegalTransition("status", old, new_status, "the job has no tasks to requeue")
    change = JobStatusChange(job_id=job_id, old_status=old, status=old)
    _run_job_status_chain(db, change, new_status, reason, now)
    return change


def _run_job_status_chain(db: Database, change: JobStatusChange, new_status: str, reason: str,
                          now: datetime.datetime) -> None:
    """Write ``new_status``, apply its task effects, then repeat for each follow-up status."""
    old = change.status
    change.at = now
    try:
        while new_status:
            new_status = _hold_for_dependencies(db, change.job_id, old, new_status)
            _write_job_status(db, change.job_id, old, new_status, now, reason if not change.steps else None)
            change.steps.append(new_status)
            change.status = new_status
            follow_up, modified = handle_job_status_change(db, change.job_id, old, new_status, now)
            change.tasks_modified += modified
            old, new_status = new_status, follow_up
    finally:
        if change.steps:
            _emit_job_change(db, change)


def _emit_job_change(db: Database, change: JobStatusChange) -> None:
    eventbus.emit(db, eventbus.job_changed(change.job_id, status=change.status, previous_status=change.old_status,
                                           tasks_changed=bool(change.tasks_modified)))


def _write_job_status(db: Database, job_id: ObjectId, old: str, new: str, now: datetime.datetime,
                      reason: str | None) -> None:
    """Write the status; ``status_reason`` explains the status it came with, so a change without a
    reason clears a stale one ("Job submitted by ..." on a completed job), while an automatic
    follow-up step (``reason`` None) keeps the reason of the change that started the chain."""
    fields: dict[str, Any] = {"status": new}
    update: dict[str, Any] = {}
    if reason:
        fields["status_reason"] = reason
    elif reason == "":
        update["$unset"] = {"status_reason": ""}
    result = db[JOBS].update_one({"_id": job_id, "status": old}, {"$set": stamp(now, fields), **update})
    if result.matched_count == 0:
        raise StatusConflict(f"job {job_id} is no longer {old!r}; not setting it to {new!r}")


def handle_job_status_change(db: Database, job_id: ObjectId, old: str, new: str,
                             now: datetime.datetime) -> tuple[str, int]:
    """Apply the task effects of a job going ``old`` -> ``new``; return (follow-up status or '', tasks changed).

    Deviations from Flamenco 2 (§14.11):

    - ``paused`` pauses the job's queued tasks, and ``queued`` from ``paused``
      queues them again (Flamenco 2 left them queued, so a paused job only
      stopped because the depsgraph skipped it).
    - A ``*-requested`` job is finalised when no task of the job is
      ``cancel-requested`` any more, counting pre-existing ones (Flamenco 2
      counted only tasks it had just modified).
    - ``queued`` completes a job only when it has tasks and all are completed
      (Flamenco 2 called a job with 0 tasks completed).
    """
    if new in _CANCEL_STEP_JOB_STATES:
        return _cancel_step(db, job_id, new, now)
    if new == JobStatus.REQUEUED:
        with task_counts.changing(db, job_id) as counts:
            return JobStatus.QUEUED, _requeue_job_tasks(db, counts, old, now)
    if new in (JobStatus.QUEUED, JobStatus.WAITING_FOR_JOBS):
        modified = 0
        if old == JobStatus.PAUSED:
            with task_counts.changing(db, job_id) as counts:
                modified = _set_tasks_status(db, counts, {TaskStatus.PAUSED}, TaskStatus.QUEUED, now)
        if new == JobStatus.WAITING_FOR_JOBS:  # tasks queued, job not runnable: releasing it is one job write
            return "", modified
        return (JobStatus.COMPLETED if _all_tasks_completed(count_task_statuses(db, job_id)) else ""), modified
    if new == JobStatus.PAUSED:
        with task_counts.changing(db, job_id) as counts:
            return "", _set_tasks_status(db, counts, {TaskStatus.QUEUED}, TaskStatus.PAUSED, now)
    return "", 0


def _cancel_step(db: Database, job_id: ObjectId, new: str, now: datetime.datetime) -> tuple[str, int]:
    """Cancel queued tasks, ask the Manager to stop running ones, explain why (reference §3.4).

    Tasks without an ``activity`` get "Server cancelled this task ..." in the
    same write as their status, so each document is written once (each
    written document is the local store's main cost, flamenco.store: write).
    """
    activity = {"activity": f"Server cancelled this task because the job got status {new!r}."}
    modified = 0
    with task_counts.changing(db, job_id) as counts:
        for from_statuses, to_status in (({TaskStatus.QUEUED}, TaskStatus.CANCELED),
                                         (_RUNNING_TASK_STATES, TaskStatus.CANCEL_REQUESTED)):
            changed = _set_tasks_status(db, counts, from_statuses, to_status, now, also=activity,
                                        extra_filter=_WITHOUT_ACTIVITY)
            changed += _set_tasks_status(db, counts, from_statuses, to_status, now)
            if to_status == TaskStatus.CANCEL_REQUESTED and changed:
                mark_cancel_requested_tasks(db, job_id)
            modified += changed
    db[TASKS].update_many(
        {"job": job_id, "status": {"$in": [TaskStatus.CANCEL_REQUESTED, TaskStatus.CANCELED]}, **_WITHOUT_ACTIVITY},
        {"$set": stamp(now, activity)},
    )
    final = _REQUESTED_TO_FINAL.get(new, "")
    if final and count_task_statuses(db, job_id).get(TaskStatus.CANCEL_REQUESTED, 0) == 0:
        return final, modified
    return "", modified


# Job field: some of its tasks were made cancel-requested, so Managers polling for
# cancellations look at this job's tasks (the others need no task query at all).
CANCEL_REQUESTED_TASKS_FIELD = "has_cancel_requested_tasks"


def mark_cancel_requested_tasks(db: Database, job_id: ObjectId) -> None:
    """Flag the job after some of its tasks became ``cancel-requested`` (never cleared: a flag too many
    costs one query per poll, a flag missing would hide a cancellation from the Manager)."""
    db[JOBS].update_one({"_id": job_id, CANCEL_REQUESTED_TASKS_FIELD: {"$ne": True}},
                        {"$set": {CANCEL_REQUESTED_TASKS_FIELD: True}})


def _requeue_job_tasks(db: Database, counts: task_counts.CountChange, old: str, now: datetime.datetime) -> int:
    """Queue the job's tasks again (all of them when the job was completed) and forget failing Workers."""
    keep = ({TaskStatus.CANCEL_REQUESTED} if old == JobStatus.COMPLETED
            else {TaskStatus.COMPLETED, TaskStatus.CANCEL_REQUESTED})
    requeue = set(TaskStatus) - keep - {TaskStatus.UNDER_CONSTRUCTION}
    return _set_tasks_status(db, counts, requeue, TaskStatus.QUEUED, now, unset=["failed_by_workers"])


def _all_tasks_completed(counts: Mapping[str, int]) -> bool:
    """True when the job has tasks and every one of them is completed."""
    return bool(counts) and set(counts) == {TaskStatus.COMPLETED}


# --- Construction runs (the lease protocol around them: flamenco.jobs.construction_runs) ----


def start_construction(db: Database, job: Mapping[str, Any], reason: str, now: datetime.datetime, *,
                       also: Mapping[str, Any]) -> None:
    """Make the job ``under-construction`` (with ``reason``, when given) and write the run's ``also`` with it,
    if the job is unchanged since it was read (its ``status`` and ``_etag``).

    The condition on ``_etag`` lets one of two concurrent runs win (on MongoDB;
    the upstream local store does not guarantee it, flamenco.store: atomic);
    the other gets :class:`StatusConflict`. The job's tasks are rebuilt, so its
    task counts are dropped: read from the tasks until the run publishes the
    job.
    Not announced: a run is one change of the job, announced when it ends
    (:func:`finish_construction`).
    """
    fields = {**also, "status": JobStatus.UNDER_CONSTRUCTION}
    if reason:
        fields["status_reason"] = reason
    result = db[JOBS].update_one({"_id": job["_id"], "status": job["status"], "_etag": job.get("_etag")},
                                 task_counts.merge_updates({"$set": stamp(now, fields)}, task_counts.forget_update()))
    if result.matched_count == 0:
        raise StatusConflict(f"job {job['_id']} changed while its construction started; not constructing it")


def finish_construction(db: Database, change: JobStatusChange, new_status: str, reason: str, *,
                        extra_filter: Mapping[str, Any], unset: Iterable[str], tasks: Mapping[str, int],
                        at: datetime.datetime) -> bool:
    """The last write of a construction run: the job leaves ``under-construction`` for ``new_status`` (its
    tasks become visible) and loses the ``unset`` fields, if ``extra_filter`` (the run's lease) still holds.

    Returns False, writing nothing, when another run holds the job now.
    ``tasks`` counts the job's tasks per status, all inserted by the run
    (none when it failed or was deferred): the run holds the job, so they are
    its exact task counts, stored in the same write. ``status_reason`` is
    replaced only by a non-empty ``reason``. Records the change in ``change``
    (``at``: the run's moment, its tasks' ``_updated``) and announces it.
    """
    fields: dict[str, Any] = {"status": new_status}
    if reason:
        fields["status_reason"] = reason
    result = db[JOBS].update_one(
        {"_id": change.job_id, "status": JobStatus.UNDER_CONSTRUCTION, **extra_filter},
        task_counts.merge_updates({"$set": stamp(clock.utcnow(), fields), "$unset": {name: "" for name in unset}},
                                  task_counts.replace_update(tasks)))
    if result.matched_count == 0:
        return False
    change.steps.append(new_status)
    change.status = new_status
    change.at = at
    eventbus.emit(db, eventbus.job_changed(change.job_id, status=new_status, previous_status=change.old_status,
                                           tasks_changed=True))
    return True


# --- Job dependencies (depends_on; the reactions live in flamenco.jobs.dependencies) ------

# A job queued again from one of these statuses (resumed, requeued, retried) first waits
# for its unfinished dependencies. A running job is never held back, not even when one
# of its dependencies is requeued: it already ran on that job's output.
_DEPENDENCY_GATED_JOB_STATES = frozenset({JobStatus.PAUSED, JobStatus.REQUEUED, JobStatus.CANCELED, JobStatus.FAILED,
                                          JobStatus.COMPLETED})


def dependency_satisfied(dependency: Mapping[str, Any] | None) -> bool:
    """Whether a dependency (a job with ``status`` and ``pre_archive_status``) holds nobody back any more.

    It completed, or was archived after completing. A deleted one (None) holds
    nobody back either: only a completed job may be deleted or archived while
    other jobs wait for it (flamenco.jobs.dependencies.check_not_awaited).
    """
    if dependency is None:
        return True
    current = dependency.get("status")
    return current == JobStatus.COMPLETED or (current in ARCHIVE_JOB_STATES
                                              and dependency.get("pre_archive_status") == JobStatus.COMPLETED)


def unmet_dependencies(db: Database, job_id: ObjectId) -> list[dict]:
    """The job's dependencies that have not completed (``_id``, ``name``, ``status``), in ``depends_on`` order."""
    job = db[JOBS].find_one({"_id": job_id}, projection=["depends_on"])
    ids = list((job or {}).get("depends_on") or [])
    if not ids:
        return []
    found = {dep["_id"]: dep for dep in db[JOBS].find({"_id": {"$in": ids}},
                                                      projection=["name", "status", "pre_archive_status"])}
    return [found[dep_id] for dep_id in ids if not dependency_satisfied(found.get(dep_id))]


def _hold_for_dependencies(db: Database, job_id: ObjectId, old: str, new: str) -> str:
    """``waiting-for-jobs`` instead of ``queued`` when the job is queued again before its dependencies completed."""
    if new == JobStatus.QUEUED and old in _DEPENDENCY_GATED_JOB_STATES and unmet_dependencies(db, job_id):
        return JobStatus.WAITING_FOR_JOBS
    return new


# --- Task status change -> job change (reference §3.5) ---------------------------------


def job_status_after_task_change(job_id: ObjectId, job_status: str, task_status: str,
                                 counts: Mapping[str, int]) -> tuple[str, str] | None:
    """Decide the job's new (status, reason) after a task got ``task_status``; None for no change.

    ``counts`` are the job's task counts per status *after* the task change.
    Pure, so the rule table is easy to test. Deviations from Flamenco 2
    (§14.11): a running task only activates a ``queued`` job, so it no longer
    resurrects completed, canceled, failed, paused or archived jobs; a
    ``*-requested`` job is finalised whichever way its last cancel-requested
    task ends (Flamenco 2 stayed stuck when it completed or failed); the
    failure threshold is computed in integers (no float rounding at 10 %).
    """
    if job_status in ARCHIVE_JOB_STATES:
        return None
    if task_status == TaskStatus.QUEUED:
        return (JobStatus.QUEUED, "") if job_status == JobStatus.COMPLETED else None
    if task_status == TaskStatus.CLAIMED_BY_MANAGER:
        if job_status == JobStatus.ACTIVE and counts.get(TaskStatus.ACTIVE, 0) == 0:
            return JobStatus.QUEUED, ""
        return None
    if task_status in (TaskStatus.ACTIVE, TaskStatus.SOFT_FAILED):
        return (JobStatus.ACTIVE, "") if job_status == JobStatus.QUEUED else None
    if task_status == TaskStatus.COMPLETED and _all_tasks_completed(counts) and job_status != JobStatus.COMPLETED:
        return JobStatus.COMPLETED, f"All {counts[TaskStatus.COMPLETED]} tasks completed"
    if task_status in FINAL_TASK_STATUSES and job_status in _REQUESTED_TO_FINAL:
        if counts.get(TaskStatus.CANCEL_REQUESTED, 0) == 0:
            return _REQUESTED_TO_FINAL[job_status], ""
        return None
    if task_status == TaskStatus.FAILED and job_status in (JobStatus.QUEUED, JobStatus.ACTIVE, JobStatus.PAUSED):
        failure = _failure_reason(job_id, counts)
        if failure:
            return JobStatus.FAILED, failure
    if task_status in (TaskStatus.FAILED, TaskStatus.COMPLETED) and job_status == JobStatus.QUEUED:
        return JobStatus.ACTIVE, ""
    return None


def _failure_reason(job_id: ObjectId, counts: Mapping[str, int]) -> str:
    """The reason to fail the job when >= TASK_FAIL_JOB_PERCENTAGE of its tasks failed, else ''."""
    failed = counts.get(TaskStatus.FAILED, 0)
    total = sum(counts.values())
    if total == 0 or failed * 100 < total * TASK_FAIL_JOB_PERCENTAGE:
        return ""
    return f"Failing job {job_id} because {failed} of its {total} tasks ({failed * 100 // total}%) failed"


def update_job_after_task_status_change(db: Database, job_id: ObjectId, task_status: str, *,
                                        now: datetime.datetime | None = None,
                                        counts: LazyTaskCounts | None = None) -> JobStatusChange | None:
    """Apply the task -> job rule for a task of ``job_id`` that just got ``task_status``.

    Returns the job change, or None when the job does not change (or is gone,
    or changed concurrently: the other change's own rule then decides).
    ``counts`` may be shared by several calls for one job (see LazyTaskCounts).
    """
    now = moment(now)
    job = db[JOBS].find_one({"_id": job_id}, projection=["status"])
    if job is None:
        return None
    decision = job_status_after_task_change(job_id, job["status"], task_status,
                                            counts if counts is not None else LazyTaskCounts(db, job_id))
    if decision is None:
        return None
    new_status, reason = decision
    change = JobStatusChange(job_id=job_id, old_status=job["status"], status=job["status"])
    try:
        _run_job_status_chain(db, change, new_status, reason, now)
    except StatusConflict:
        return change if change.steps else None
    return change


# --- Task status changes ------------------------------------------------------------


def set_task_status(db: Database, task_id: ObjectId, new_status: str, *, actor: Actor = Actor.USER,
                    extra_fields: Mapping[str, Any] | None = None,
                    now: datetime.datetime | None = None) -> TaskStatusChange:
    """Validate and write one task's status (plus ``extra_fields`` in the same write), then update its job.

    For Manager updates call :func:`determine_new_task_status` first and write
    the other fields yourself when it returns None. Deviations from Flamenco 2:
    a user cancelling a ``queued`` task cancels it at once (no Manager has it,
    so nobody would confirm a cancel-requested); a user requeue clears
    ``failed_by_workers`` like every other requeue path (§14.13).
    :class:`StatusConflict` means the status changed since it was read:
    re-read the task and decide again.
    """
    now = moment(now)
    task = load(db, TASKS, task_id, ["status", "job"])
    old = task["status"]
    check_task_transition(old, new_status, actor)
    if actor is Actor.USER and new_status == TaskStatus.CANCEL_REQUESTED and old == TaskStatus.QUEUED:
        new_status = TaskStatus.CANCELED
    update: dict[str, Any] = {"$set": stamp(now, {**(extra_fields or {}), "status": new_status})}
    if actor is Actor.USER and new_status == TaskStatus.QUEUED:
        update["$unset"] = {"failed_by_workers": ""}
    with task_counts.changing_many(db, [task["job"]] if task.get("job") else []) as counts:
        result = db[TASKS].update_one({"_id": task_id, "status": old}, update)
        for job_counts in counts.values():
            job_counts.moved(old, new_status, result.matched_count)
    if result.matched_count == 0:
        raise StatusConflict(f"task {task_id} is no longer {old!r}; not setting it to {new_status!r}")
    change = TaskStatusChange(task_id=task_id, job_id=task.get("job"), old_status=old, status=new_status)
    eventbus.emit(db, eventbus.task_changed(task_id, change.job_id, status=new_status, previous_status=old))
    if new_status == TaskStatus.CANCEL_REQUESTED and change.job_id is not None:
        mark_cancel_requested_tasks(db, change.job_id)
    if old != new_status and change.job_id is not None:
        change.job_change = update_job_after_task_status_change(db, change.job_id, new_status, now=now)
    return change


@dataclasses.dataclass
class RequeueResult:
    """What a requeue did: how many tasks were queued and the job's reaction."""

    tasks_modified: int
    job_change: JobStatusChange | None = None


def requeue_failed_tasks(db: Database, job_id: ObjectId, *, actor: Actor = Actor.USER,
                         now: datetime.datetime | None = None) -> RequeueResult:
    """Queue every ``failed`` task of the job again in one write, forgetting the Workers that failed it.

    Flamenco 2 did this task by task (§14.15) and offered it only in the UI for
    active or queued jobs; here users are held to those job statuses too.
    """
    now = moment(now)
    job_status = load(db, JOBS, job_id, ["status"])["status"]
    if actor is not Actor.SYSTEM and job_status not in FAILED_TASKS_REQUEABLE_JOB_STATES:
        raise IllegalTransition("status", job_status, job_status,
                                "failed tasks can only be requeued while the job is "
                                + " or ".join(sorted(FAILED_TASKS_REQUEABLE_JOB_STATES)))
    with task_counts.changing(db, job_id) as counts:
        modified = _set_tasks_status(db, counts, {TaskStatus.FAILED}, TaskStatus.QUEUED, now,
                                     unset=["failed_by_workers"])
    if modified:
        eventbus.emit(db, eventbus.job_changed(job_id, tasks_changed=True))
    job_change = update_job_after_task_status_change(db, job_id, TaskStatus.QUEUED, now=now) if modified else None
    return RequeueResult(tasks_modified=modified, job_change=job_change)


def find_successors(db: Database, task_id: ObjectId, job_id: ObjectId) -> list[ObjectId]:
    """Ids of the tasks that depend on ``task_id``, directly or not (one query per DAG level)."""
    seen = {task_id}
    frontier = [task_id]
    for _depth in range(MAX_SUCCESSOR_DEPTH):
        if not frontier:
            break
        children = db[TASKS].find({"job": job_id, "parents": {"$in": frontier}}, projection=["_id"])
        frontier = [c["_id"] for c in children if c["_id"] not in seen]
        seen.update(frontier)
    seen.discard(task_id)
    return sorted(seen)


def requeue_task_with_successors(db: Database, task_id: ObjectId, *, actor: Actor = Actor.USER,
                                 now: datetime.datetime | None = None) -> RequeueResult:
    """Queue a task and every task depending on it again, in one write.

    Fixes of §14.13: in-flight tasks (claimed, active, cancel-requested) are
    left alone so their work is not handed out twice, and ``failed_by_workers``
    is cleared as in every other requeue.
    """
    now = moment(now)
    task = load(db, TASKS, task_id, ["status", "job"])
    if actor is not Actor.SYSTEM and task["status"] not in REQUEABLE_WITH_SUCCESSORS_TASK_STATES:
        raise IllegalTransition("status", task["status"], TaskStatus.QUEUED,
                                f"only possible from {', '.join(sorted(REQUEABLE_WITH_SUCCESSORS_TASK_STATES))}")
    ids = [task_id, *find_successors(db, task_id, task["job"])]
    requeueable = set(TaskStatus) - IN_FLIGHT_TASK_STATES - {TaskStatus.UNDER_CONSTRUCTION}
    with task_counts.changing(db, task["job"]) as counts:
        modified = _move_tasks(db, counts, {"_id": {"$in": ids}, "job": task["job"]}, requeueable, TaskStatus.QUEUED,
                               {"$set": stamp(now, {"status": TaskStatus.QUEUED}), "$unset": {"failed_by_workers": ""}})
    eventbus.emit(db, eventbus.job_changed(task["job"], tasks_changed=bool(modified)))
    job_change = update_job_after_task_status_change(db, task["job"], TaskStatus.QUEUED, now=now)
    return RequeueResult(tasks_modified=modified, job_change=job_change)


def requeue_task(db: Database, task: Mapping[str, Any], now: datetime.datetime, *,
                 also: Mapping[str, Any]) -> None:
    """Queue a task (as read: ``_id``, ``job``, ``status``) again with ``also`` (its new work) in the same write.

    Task surgery (PATCH rna-overrides gives the task new commands); the caller
    checked that the task is not in flight. The Workers that failed it are
    forgotten, as in every requeue. :class:`StatusConflict` when its status
    changed since it was read. Neither announced as a task change nor followed
    by the task -> job rule: the caller announces the job with
    ``tasks_changed``, and leaves the job's status to its user, who requeues
    the tasks they want.
    """
    with task_counts.changing(db, task["job"]) as counts:
        result = db[TASKS].update_one({"_id": task["_id"], "status": task["status"]},
                                      {"$set": stamp(now, {**also, "status": TaskStatus.QUEUED}),
                                       "$unset": {"failed_by_workers": ""}})
        counts.moved(task["status"], TaskStatus.QUEUED, result.matched_count)
    if result.matched_count == 0:
        raise StatusConflict(f"task {task['_id']} is no longer {task['status']!r}; not requeueing it")


def mark_tasks_claimed(db: Database, manager_id: ObjectId, task_ids: Iterable[ObjectId], *,
                       job_of: Mapping[ObjectId, ObjectId] | None = None,
                       docs: Mapping[ObjectId, Mapping[str, Any]] | None = None) -> int:
    """Depsgraph claim (reference §6.3): the Manager's ``queued`` tasks become ``claimed-by-manager``.

    Deliberately keeps ``_updated`` and ``_etag``, as the protocol requires:
    the Manager's next incremental depsgraph (``_updated`` > its last one) must
    not resend what it just received, and its cached etags stay valid. A stale
    uploaded log file is dropped because the task will run again, and so is
    the watermark of applied updates (``task_updates.WATERMARK_FIELD``): the
    claiming Manager may run on another clock than the one that set it.

    One ``update_many`` per job, so each job's task counts move by what was
    claimed of it; ``job_of`` (task id -> job id, as the depsgraph read them)
    saves reading the tasks' jobs, and ``docs`` (task id -> the task, or its
    changed fields with ``_id``, ``project`` and ``job``, showing its new
    status) saves live-update listeners a read.
    """
    task_ids = list(task_ids)
    if job_of is None:
        job_of = {t["_id"]: t.get("job") for t in db[TASKS].find({"_id": {"$in": task_ids}}, projection=["job"])}
    per_job: dict[ObjectId, list[ObjectId]] = {}
    for task_id in task_ids:
        if job_of.get(task_id) is not None:
            per_job.setdefault(job_of[task_id], []).append(task_id)
    claimed = 0
    with task_counts.changing_many(db, per_job) as counts:
        for job_id, ids in per_job.items():
            modified = db[TASKS].update_many(
                {"_id": {"$in": ids}, "job": job_id, "manager": manager_id, "status": TaskStatus.QUEUED},
                {"$set": {"status": TaskStatus.CLAIMED_BY_MANAGER},
                 "$unset": {"log_file": "", "last_applied_update": ""}},
            ).modified_count
            counts[job_id].moved(TaskStatus.QUEUED, TaskStatus.CLAIMED_BY_MANAGER, modified)
            claimed += modified
    eventbus.emit(db, *(eventbus.task_changed(task_id, job_id, status=TaskStatus.CLAIMED_BY_MANAGER,
                                              previous_status=TaskStatus.QUEUED, doc=(docs or {}).get(task_id))
                        for job_id, ids in per_job.items() for task_id in ids))
    return claimed


# --- A Manager's task-update batch (parsing, folding, watermarks: flamenco.manager_api.task_updates) ---

# Fields a reported task is read with: its status (the statement's filter), its
# job (task counts), its ``_updated`` (never moved back) and what its event carries.
REPORTED_TASK_FIELDS = ("status", "job", "manager", "project", "_updated")


@dataclasses.dataclass
class ReportedTask:
    """One task of a Manager's batch, as :func:`write_reported_tasks` writes it.

    ``task`` is the task as read (:data:`REPORTED_TASK_FIELDS`); ``status`` the
    status it ends with, after the ``reported`` statuses (:meth:`report`),
    which are kept to decide again when the task's status changed meanwhile;
    ``fields`` what else the Manager sent (activity, progress, log tail), written
    and announced with the status.
    """

    task: dict
    status: str
    reported: list[str] = dataclasses.field(default_factory=list)
    fields: dict = dataclasses.field(default_factory=dict)
    written_etag: str | None = None  # the etag of this batch's statement: tells whether it was applied

    @property
    def status_changed(self) -> bool:
        return self.status != self.task["status"]

    def statement_fields(self) -> dict:
        """What the task's statement sets besides its status, ``_updated`` and ``_etag``.

        ``fields``; a caller adds its own bookkeeping, which listeners need not see (the batch's watermark).
        """
        return dict(self.fields)

    @property
    def needs_write(self) -> bool:
        return self.status_changed or bool(self.statement_fields())

    def report(self, reported: str) -> None:
        """Apply a status the Manager reported, as far as the rules accept it (:func:`determine_new_task_status`)."""
        self.reported.append(reported)
        self.status = _after_reports(self.status, [reported])

    def decide_again(self, task: dict) -> None:
        """The task's status changed since it was read: apply the reported statuses to the one it has now."""
        self.task = task
        self.status = _after_reports(task["status"], self.reported)


def _after_reports(current: str, reported: Iterable[str]) -> str:
    """A task's status after the Manager reported ``reported``, in order; what the rules ignore changes nothing."""
    for reported_status in reported:
        current = determine_new_task_status(current, reported_status) or current
    return current


Reported = TypeVar("Reported", bound=ReportedTask)


def write_reported_tasks(db: Database, reports: dict[ObjectId, Reported], now: datetime.datetime) -> set[ObjectId]:
    """Write a Manager's batch, one ``bulk_write`` of one ``UpdateOne`` per task; return the tasks written.

    A task's statement carries everything the batch changed on it, filtered
    on ``_id`` and, when its status changes, on the status it had when read,
    so a concurrent change (a user cancelling the job) is not overwritten. One
    document write per task: on the local store each updated document costs
    far more than the command around it (flamenco.store: write), and on
    MongoDB it is one indexed write. When some statement matched nothing, the
    tasks are read again (:func:`_write_conflicts`): tasks deleted meanwhile
    leave ``reports``.

    The batch is one writer of its jobs' task counts: each job whose tasks
    change status gets one ``$inc`` of what moved. Every task written is
    announced; a report with nothing to write (a repeated status, no fields)
    changes nothing, so listeners hear nothing of it. The task -> job rules
    are the caller's to run afterwards, once per job and new task status.
    """
    written = _write_reports(db, reports, now)
    eventbus.emit(db, *_reported_task_changes({task_id: reports[task_id] for task_id in reports
                                               if task_id in written}))
    return written


def _write_reports(db: Database, reports: dict[ObjectId, Reported], now: datetime.datetime) -> set[ObjectId]:
    """The write of :func:`write_reported_tasks`: the tasks with something to write, in one ``bulk_write``."""
    ids = [task_id for task_id, report in reports.items() if report.needs_write]
    if not ids:
        return set()
    jobs = {reports[t].task["job"] for t in ids if reports[t].status_changed and reports[t].task.get("job")}
    with task_counts.changing_many(db, sorted(jobs)) as counts:
        result = db[TASKS].bulk_write([_report_statement(reports[t], now) for t in ids], ordered=False)
        if result.matched_count < len(ids):
            return _write_conflicts(db, reports, ids, now, counts)
        for task_id in ids:
            _count_move(counts, reports[task_id])
        return set(ids)


def _report_statement(report: ReportedTask, now: datetime.datetime) -> UpdateOne:
    """One statement for one task: its fields and (conditional on the status read) its new status."""
    report.written_etag = new_etag()
    fields = {**report.statement_fields(), "_updated": _not_before(report.task, now), "_etag": report.written_etag}
    query: dict[str, Any] = {"_id": report.task["_id"]}
    if report.status_changed:
        fields["status"] = report.status
        query["status"] = report.task["status"]
    return UpdateOne(query, {"$set": fields})


def _not_before(task: Mapping[str, Any], now: datetime.datetime) -> datetime.datetime:
    """The server's clock, unless the task already carries a later ``_updated``: it never goes back (§14.10)."""
    stored = task.get("_updated")
    if stored is None:
        return now
    return max(now, clock.as_utc(stored))


def _count_move(counts: Mapping[ObjectId, task_counts.CountChange], report: ReportedTask) -> None:
    """Record the status move of a task whose statement was applied (the status it was read with -> its new one)."""
    job_id = report.task.get("job")
    job_counts = counts.get(job_id) if job_id is not None else None
    if job_counts is not None:
        job_counts.moved(report.task["status"], report.status)


def _write_conflicts(db: Database, reports: dict[ObjectId, Reported], ids: list[ObjectId],
                     now: datetime.datetime, counts: Mapping[ObjectId, task_counts.CountChange]) -> set[ObjectId]:
    """After a partial match: tasks deleted meanwhile (archived) are dropped; tasks whose status changed
    while the batch ran get their reported statuses applied again to the status they have now, and are
    written once more. Returns the tasks written.

    Task counts: a task still carrying this batch's etag got its statement applied, so its move is
    counted; for a status-changing statement that another write followed (or preceded), whether it was
    applied is not known, so its job's counts are recounted on their next read.
    """
    fresh = {t["_id"]: t for t in db[TASKS].find({"_id": {"$in": ids}}, projection=[*REPORTED_TASK_FIELDS, "_etag"])}
    written: set[ObjectId] = set()
    again: list[ObjectId] = []
    for task_id in ids:
        report, task = reports[task_id], fresh.get(task_id)
        if task is None:
            reports.pop(task_id)  # deleted meanwhile: nothing to write, no job rule to run
            continue  # no move to count: deleting tasks replaces the job's counts (task_counts.replace)
        if task.get("_etag") == report.written_etag:
            _count_move(counts, report)
            written.add(task_id)
            continue
        if report.status_changed and report.task.get("job") in counts:
            counts[report.task["job"]].unknown()
        if not report.status_changed or task["status"] in (report.status, report.task["status"]):
            written.add(task_id)
        else:
            report.decide_again(task)
            if report.needs_write:
                again.append(task_id)
    if again:
        result = db[TASKS].bulk_write([_report_statement(reports[t], now) for t in again], ordered=False)
        if result.matched_count < len(again):
            log.warning("%d tasks changed twice while a task-update batch was written; their statuses were "
                        "left as they are", len(again) - result.matched_count)
        written.update(again)
    return written


def _reported_task_changes(reports: Mapping[ObjectId, ReportedTask]) -> list[eventbus.Change]:
    """The batch's task changes, carrying what was written (so listeners read no task)."""
    return [eventbus.task_changed(
        task_id, r.task.get("job"), status=r.status, previous_status=r.task["status"],
        doc={"_id": task_id, "project": r.task.get("project"), "job": r.task.get("job"),
             "manager": r.task.get("manager"), "status": r.status, **r.fields})
        for task_id, r in reports.items()]
