"""RNA overrides on an existing job (reference §4.8): store the lines, (re)queue the task that writes them.

Task surgery on a compiled job, using the status rules' vocabulary and
helpers from :mod:`flamenco.status` (which requeues the task:
``status.requeue_task``); kept apart so the rules do not depend on the job
compilers.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Mapping

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, eventbus, job_compilers, status, task_counts
from flamenco.jobs import construction_runs
from flamenco.store.collections import JOBS, TASKS
from flamenco_protocol.statuses import JobStatus, TaskStatus

# Priority of an rna-overrides task added to an existing job: before the
# re-queued renders that depend on it (Flamenco 2's value).
RNA_OVERRIDES_TASK_PRIORITY = 80
# Jobs whose tasks are being written or archived: an rna-overrides task added
# now would be lost or duplicated, so PATCH rna-overrides is refused.
RNA_OVERRIDES_REFUSED_JOB_STATES = frozenset({JobStatus.UNDER_CONSTRUCTION}) | status.ARCHIVE_JOB_STATES


@dataclasses.dataclass
class RnaOverridesChange:
    """What PATCH rna-overrides did: the task it (re)queued (None: the job has no tasks yet),
    whether it is new, renders re-pointed to it."""

    task_id: ObjectId | None
    created: bool
    repointed: int = 0


def apply_rna_overrides(db: Database, job_id: ObjectId, lines: Any, *,
                        now: datetime.datetime | None = None) -> RnaOverridesChange:
    """Store ``lines`` as the job's RNA overrides and queue the ``rna-overrides`` task that writes them.

    An existing task gets the new command and is queued again; otherwise a
    new task is created (priority 80) and the renders are made to depend on
    it. A job without tasks (waiting for files, construction failed) only
    stores the lines: its compile makes the task. The job status is left
    alone: users requeue the renders they want. Raises
    ``JobSettingsError``/``RnaOverridesError`` for bad lines or a non-Blender
    job, :class:`status.IllegalTransition` while the job is constructed or archived
    or its rna-overrides task is in flight (queueing it would hand it out twice, §14.13).
    """
    now = clock.moment(now)
    lines = job_compilers.check_rna_overrides(lines)
    job = status.load(db, JOBS, job_id, None)
    job_type = job_compilers.job_type_of(job)
    if not job_type.is_blender:
        raise job_compilers.JobSettingsError("job_type", f"{job_type.name!r} jobs do not render with Blender")
    if job["status"] in RNA_OVERRIDES_REFUSED_JOB_STATES:
        raise status.IllegalTransition("status", job["status"], job["status"],
                                f"RNA overrides cannot change while the job is {job['status']}")
    existing = db[TASKS].find_one({"job": job_id, "name": "rna-overrides"}, projection=["_id", "job", "status"])
    if existing is not None and existing["status"] in status.IN_FLIGHT_TASK_STATES:
        raise status.IllegalTransition("status", existing["status"], TaskStatus.QUEUED,
                                "the rna-overrides task is running; cancel it or wait until it ends")
    db[JOBS].update_one({"_id": job_id}, {"$set": status.stamp(now, {"settings.rna_overrides": lines})})
    with eventbus.batch(db):
        eventbus.emit(db, eventbus.job_changed(job_id, tasks_changed=job["status"] not in construction_runs.CONSTRUCTIBLE_JOB_STATES))
        if job["status"] in construction_runs.CONSTRUCTIBLE_JOB_STATES:
            return RnaOverridesChange(task_id=None, created=False)
        command = job_compilers.rna_overrides_command((job.get("settings") or {}).get("filepath") or "", lines)
        if existing is not None:
            status.requeue_task(db, existing, now, also={"commands": [command]})
            return RnaOverridesChange(task_id=existing["_id"], created=False)
        return _create_rna_overrides_task(db, job, job_type.rna_overrides_parent, command, now)


def _create_rna_overrides_task(db: Database, job: Mapping[str, Any], parent_name: str | None,
                               command: Mapping[str, Any], now: datetime.datetime) -> RnaOverridesChange:
    parent = db[TASKS].find_one({"job": job["_id"], "name": parent_name}, projection=["_id"]) if parent_name else None
    parents = [parent["_id"]] if parent else []
    factory = job_compilers.TaskFactory(job, now)
    task_id = factory.add("rna-overrides", "file-management", [dict(command)], parents=parents,
                          priority=RNA_OVERRIDES_TASK_PRIORITY)
    with task_counts.changing(db, job["_id"]) as counts:
        db[TASKS].insert_one({**factory.tasks[0], "status": TaskStatus.QUEUED})
        counts.added(TaskStatus.QUEUED)
    # Renders hanging off the parent (or, without one, all renders) now wait for the overrides.
    renders = {"job": job["_id"], "task_type": "blender-render", "_id": {"$ne": task_id}}
    if parents:
        renders["parents"] = parents
    result = db[TASKS].update_many(renders, {"$set": status.stamp(now, {"parents": [task_id]})})
    return RnaOverridesChange(task_id=task_id, created=True, repointed=result.modified_count)
