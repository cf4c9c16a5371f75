"""Job-on-job dependencies: a job waits (``waiting-for-jobs``) until the jobs in its ``depends_on`` completed.

A composite job after its render jobs, a video after a simulation bake: the
dependent job is compiled at once, its tasks inserted ``queued``, but the job
itself stays ``waiting-for-jobs``, a status the depsgraph never hands tasks
out of. Releasing it is then one job status change. The rules that decide
*when* a job waits live in :mod:`flamenco.status` (construction of a job with
unmet dependencies, and a job queued again before they completed, go to
``waiting-for-jobs``); this module checks what a client asks for and reacts to
the changes of the jobs waited for:

- :func:`check_dependencies`: a dependency must exist and belong to the same
  project, and no cycle may form (a 409 naming the cycle's jobs).
- :func:`on_changes`, a listener on :mod:`flamenco.eventbus`: when a job
  finishes (or leaves a finished status), the jobs waiting for it are
  re-evaluated with one indexed query; so is a job that just became waiting.
  Re-evaluating releases a job whose dependencies all completed, fails it when
  one failed or was canceled and its ``on_dependency_failure`` is ``fail``,
  and otherwise keeps its ``status_reason`` ("Waiting for 2 jobs: ...") current.
- :func:`check_not_awaited`: a job that waiting jobs still need cannot be
  deleted or archived unless it completed, so no waiting job is left waiting
  for something that can never complete.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Mapping, Sequence

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, defaults, errors, eventbus, status
from flamenco.store.collections import JOBS
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)

# What a failed or canceled dependency does to the job waiting for it: fail it too
# (the default: a composite of missing renders is wasted farm time), or keep it
# waiting until someone requeues the dependency and it completes.
FAILURE_POLICIES = ("fail", "wait")
DEFAULT_FAILURE_POLICY = "fail"
# Dependency statuses that mean "this will not complete unless someone requeues it".
FAILED_DEPENDENCY_STATES = frozenset({JobStatus.FAILED, JobStatus.CANCELED, JobStatus.CONSTRUCTION_FAILED})
# A dependency entering or leaving one of these statuses may change what its dependents wait for.
_OUTCOME_STATES = FAILED_DEPENDENCY_STATES | {JobStatus.COMPLETED}
# Jobs that have not started running: a dependency they wait for must not disappear.
_NOT_STARTED_STATES = frozenset({JobStatus.WAITING_FOR_FILES, JobStatus.UNDER_CONSTRUCTION, JobStatus.WAITING_FOR_JOBS,
                                 JobStatus.PAUSED})
# The cycle check follows depends_on at most this many levels / jobs deep; a
# chain longer than that is refused rather than walked without end.
MAX_WALK_DEPTH = 100
MAX_WALK_JOBS = 10_000
# The dashboard lists at most this many jobs that need a job.
MAX_NEEDED_BY_SHOWN = 50


class DependencyError(errors.FieldError):
    """A ``depends_on`` the server refuses; ``code`` is the HTTP status (422 bad input, 409 cycle or conflict)."""


# --- Checking what a client asks for ------------------------------------------------


def parse_depends_on(value: object) -> list[ObjectId]:
    """The job ids of a ``depends_on`` value (a list of id strings), without repeats, in order.

    Job POST has Eve check the types first; PATCH ``set-dependencies`` relies on this.
    """
    if not isinstance(value, list):
        raise DependencyError(422, "depends_on", "must be a list of job ids")
    ids: list[ObjectId] = []
    for item in value:
        if not (isinstance(item, ObjectId) or (isinstance(item, str) and ObjectId.is_valid(item))):
            raise DependencyError(422, "depends_on", f"{item!r} is not a job id (24 hexadecimal characters)")
        ids.append(ObjectId(item))
    unique = list(dict.fromkeys(ids))
    if len(unique) > defaults.JOB_MAX_DEPENDENCIES:
        raise DependencyError(422, "depends_on", f"at most {defaults.JOB_MAX_DEPENDENCIES} jobs, got {len(unique)}")
    return unique


def check_dependencies(db: Database, project_id: ObjectId, dep_ids: Sequence[ObjectId],
                       job_id: ObjectId | None = None) -> None:
    """Raise :class:`DependencyError` unless ``job_id`` (None: a job being submitted) may wait for ``dep_ids``.

    Every dependency must exist and be a job of ``project_id``; a stored job
    may not come to wait for itself, directly or through other jobs.
    """
    found = {doc["_id"]: doc for doc in db[JOBS].find({"_id": {"$in": list(dep_ids)}}, projection=["project"])}
    for dep_id in dep_ids:
        doc = found.get(dep_id)
        if doc is None:
            raise DependencyError(422, "depends_on", f"there is no job {dep_id}")
        if doc.get("project") != project_id:
            raise DependencyError(422, "depends_on",
                                  f"job {dep_id} is not in this job's project; a job can only wait for jobs "
                                  "of its own project")
    if job_id is not None:
        cycle = find_cycle(db, job_id, dep_ids)
        if cycle:
            raise DependencyError(409, "depends_on", f"would create a cycle: {describe_cycle(db, cycle)}")


def find_cycle(db: Database, job_id: ObjectId, dep_ids: Sequence[ObjectId]) -> list[ObjectId]:
    """The jobs of the cycle ``job_id`` -> ... -> ``job_id`` that waiting for ``dep_ids`` would close, or [].

    A breadth-first walk along ``depends_on``, one query per level, bounded by
    :data:`MAX_WALK_DEPTH` and :data:`MAX_WALK_JOBS` (beyond them the chain is
    refused as too long).
    """
    reached_from: dict[ObjectId, ObjectId] = {dep: job_id for dep in dep_ids}
    if job_id in reached_from:
        return [job_id, job_id]
    frontier = list(reached_from)
    for _depth in range(MAX_WALK_DEPTH):
        if not frontier:
            return []
        next_frontier: list[ObjectId] = []
        for doc in db[JOBS].find({"_id": {"$in": frontier}}, projection=["depends_on"]):
            for dep in doc.get("depends_on") or ():
                if dep == job_id:
                    return _path_back(reached_from, doc["_id"], job_id)
                if dep not in reached_from:
                    reached_from[dep] = doc["_id"]
                    next_frontier.append(dep)
        if len(reached_from) > MAX_WALK_JOBS:
            break
        frontier = next_frontier
    if not frontier:
        return []
    raise DependencyError(422, "depends_on", f"the chain of dependencies is longer than {MAX_WALK_DEPTH} levels "
                                             f"or {MAX_WALK_JOBS} jobs")


def _path_back(reached_from: Mapping[ObjectId, ObjectId], last: ObjectId, job_id: ObjectId) -> list[ObjectId]:
    """``[job_id, ..., last, job_id]``, following how the walk reached ``last``."""
    path = [last]
    while path[-1] != job_id:
        path.append(reached_from[path[-1]])
    return [*reversed(path), job_id]


def describe_cycle(db: Database, cycle: Sequence[ObjectId]) -> str:
    """``'comp' (id) -> 'render' (id) -> 'comp' (id)``: the cycle's jobs by name and id."""
    names = {doc["_id"]: doc.get("name", "") for doc in db[JOBS].find({"_id": {"$in": list(cycle)}},
                                                                    projection=["name"])}
    return " -> ".join(f"{names.get(job_id, '')!r} ({job_id})" for job_id in cycle)


def check_not_awaited(db: Database, job: Mapping[str, Any], action: str) -> None:
    """:class:`DependencyError` (409) if jobs that have not started still wait for this unfinished job.

    ``action`` ("deleted", "archived") goes into the message. A completed job
    may go: its dependents were released when it completed.
    """
    if status.dependency_satisfied(job):
        return
    waiting = list(db[JOBS].find({"depends_on": job["_id"], "status": {"$in": sorted(_NOT_STARTED_STATES)}},
                                 projection=["name"]).limit(5))
    if waiting:
        names = ", ".join(f"{doc.get('name', '')!r} ({doc['_id']})" for doc in waiting)
        raise DependencyError(409, "depends_on", f"this job cannot be {action} while other jobs wait for it to "
                                                 f"complete: {names}; cancel them or change their dependencies")


# --- Reacting to changes of the jobs waited for -----------------------------------------


def on_changes(db: Database, changes: Sequence[eventbus.Change]) -> None:
    """Event-bus listener: re-evaluate waiting jobs whose dependencies finished, and jobs that began to wait.

    Cheap for every other change: a job change that does not touch a finished
    status costs nothing; one that does costs one indexed query.
    """
    began_waiting: list[ObjectId] = []
    finished: list[ObjectId] = []
    for change in changes:
        if change.kind != "job" or not change.status_changed:
            continue
        if change.status == JobStatus.WAITING_FOR_JOBS:
            began_waiting.append(change.doc_id)
        if change.status in _OUTCOME_STATES or change.previous_status in _OUTCOME_STATES:
            finished.append(change.doc_id)
    dependents: list[ObjectId] = []
    if finished:
        dependents = [doc["_id"] for doc in db[JOBS].find(
            {"depends_on": {"$in": finished}, "status": JobStatus.WAITING_FOR_JOBS}, projection=["_id"])]
    for job_id in dict.fromkeys([*began_waiting, *dependents]):
        evaluate_waiting_job(db, job_id)


def evaluate_waiting_job(db: Database, job_id: ObjectId) -> None:
    """Release, fail, or re-describe a ``waiting-for-jobs`` job after what it waits for changed.

    A concurrent change of the job (a user cancelled it meanwhile) wins: this
    one is then dropped, since the other change's own event decides again.
    """
    job = db[JOBS].find_one({"_id": job_id, "status": JobStatus.WAITING_FOR_JOBS},
                            projection=["on_dependency_failure", "depends_on"])
    if job is None:
        return
    unmet = status.unmet_dependencies(db, job_id)
    failed = [dep for dep in unmet if dep.get("status") in FAILED_DEPENDENCY_STATES]
    try:
        if not unmet:
            count = len(job.get("depends_on") or [])
            status.set_job_status(db, job_id, JobStatus.QUEUED, actor=status.Actor.SYSTEM,
                                  reason=f"Released: the {_jobs(count)} it waited for completed")
        elif failed and job.get("on_dependency_failure", DEFAULT_FAILURE_POLICY) == "fail":
            status.set_job_status(db, job_id, JobStatus.FAILED, actor=status.Actor.SYSTEM,
                                  reason=f"Job {failed[0].get('name', '')!r} ({failed[0]['_id']}) that this job "
                                         f"waited for is {failed[0]['status']} (on dependency failure: fail)")
        else:
            _describe_waiting(db, job_id, unmet)
    except (status.StatusConflict, status.IllegalTransition, status.NotFound) as ex:
        log.info("job %s changed while its dependencies were evaluated; leaving it: %s", job_id, ex)


def waiting_reason(unmet: Sequence[Mapping[str, Any]]) -> str:
    """``Waiting for 2 jobs: 'render-A' (active), 'bake-B' (failed; requeue it)``."""
    described = []
    for dep in unmet:
        hint = "; requeue it" if dep.get("status") in FAILED_DEPENDENCY_STATES else ""
        described.append(f"{dep.get('name', '')!r} ({dep.get('status')}{hint})")
    return f"Waiting for {_jobs(len(unmet))}: {', '.join(described)}"


def _describe_waiting(db: Database, job_id: ObjectId, unmet: Sequence[Mapping[str, Any]]) -> None:
    """Store the waiting reason when it changed (and announce it, for the dashboard)."""
    reason = waiting_reason(unmet)
    result = db[JOBS].update_one(
        {"_id": job_id, "status": JobStatus.WAITING_FOR_JOBS, "status_reason": {"$ne": reason}},
        {"$set": status.stamp(clock.utcnow(), {"status_reason": reason})})
    if result.modified_count:
        eventbus.emit(db, eventbus.job_changed(job_id))


def _jobs(count: int) -> str:
    return f"{count} job" if count == 1 else f"{count} jobs"


# --- Changing a stored job's dependencies -------------------------------------------------

# A job's dependencies may change until it starts: later they could no longer hold it back.
DEPENDENCIES_EDITABLE_STATES = frozenset({JobStatus.WAITING_FOR_FILES, JobStatus.WAITING_FOR_JOBS, JobStatus.PAUSED})


def set_dependencies(db: Database, job: Mapping[str, Any], value: object) -> None:
    """Replace a job's ``depends_on`` (PATCH ``set-dependencies``); a waiting job is re-evaluated at once.

    Raises :class:`DependencyError` for a job that has started (409), bad ids,
    unknown jobs, jobs of another project (422) and cycles (409).
    """
    if job.get("status") not in DEPENDENCIES_EDITABLE_STATES:
        raise DependencyError(409, "status", f"the dependencies of a {job.get('status')} job cannot change; only "
                                             f"of {', '.join(sorted(DEPENDENCIES_EDITABLE_STATES))} jobs")
    dep_ids = parse_depends_on(value)
    check_dependencies(db, job["project"], dep_ids, job_id=job["_id"])
    result = db[JOBS].update_one({"_id": job["_id"], "status": job["status"]},
                                 {"$set": status.stamp(clock.utcnow(), {"depends_on": dep_ids})})
    if result.matched_count == 0:
        raise DependencyError(409, "status", "the job changed meanwhile; reload and retry")
    eventbus.emit(db, eventbus.job_changed(job["_id"]))
    if job["status"] == JobStatus.WAITING_FOR_JOBS:
        evaluate_waiting_job(db, job["_id"])


# --- What the dashboard shows ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Related:
    """A job on the other end of a dependency: ``status`` is None when it was deleted."""

    job_id: ObjectId
    name: str
    status: str | None


@dataclasses.dataclass(frozen=True)
class DependencyView:
    """The jobs a job waits for and the jobs waiting for it (at most :data:`MAX_NEEDED_BY_SHOWN`)."""

    waits_for: list[Related]
    needed_by: list[Related]
    on_failure: str

    @property
    def empty(self) -> bool:
        return not self.waits_for and not self.needed_by


def dependency_view(db: Database, job: Mapping[str, Any]) -> DependencyView:
    """What the job page shows about the job's dependencies (two indexed queries)."""
    ids = list(job.get("depends_on") or [])
    found = {doc["_id"]: doc for doc in db[JOBS].find({"_id": {"$in": ids}}, projection=["name", "status"])} \
        if ids else {}
    waits_for = [_related(dep_id, found.get(dep_id)) for dep_id in ids]
    needers = db[JOBS].find({"depends_on": job["_id"], "project": job.get("project")},
                            projection=["name", "status"]).limit(MAX_NEEDED_BY_SHOWN)
    needed_by = [_related(doc["_id"], doc) for doc in needers]
    return DependencyView(waits_for, needed_by, job.get("on_dependency_failure", DEFAULT_FAILURE_POLICY))


def _related(job_id: ObjectId, doc: Mapping[str, Any] | None) -> Related:
    if doc is None:
        return Related(job_id, "(deleted)", None)
    return Related(job_id, doc.get("name", ""), doc.get("status"))

