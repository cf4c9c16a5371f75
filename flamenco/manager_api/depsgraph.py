"""The depsgraph pull: which tasks a Manager gets, and claiming them (reference §6.3).

Queries do not grow with the number of tasks: the Manager's runnable jobs,
their tasks, and per job with queued tasks one ``update_many`` that claims
them (plus the job's task-count update, ``flamenco.task_counts``). The claim
keeps ``_updated``, so the next incremental pull does not resend what was
just delivered.
"""
from __future__ import annotations

import dataclasses
import datetime

from bson import ObjectId
from pymongo.database import Database

from flamenco import requirements, status

JOBS = "flamenco_jobs"
TASKS = "flamenco_tasks"


@dataclasses.dataclass
class Depsgraph:
    """What to answer: ``tasks`` is None when the Manager has no runnable job (204)."""

    tasks: list[dict] | None
    last_updated: datetime.datetime | None = None


def task_query(manager_id: ObjectId, jobs: list[dict], since: datetime.datetime | None) -> dict:
    """Clean slate: every task the Manager should know about. Incremental: only
    queued/claimed/soft-failed tasks changed after ``since`` (cancellations
    travel through the task-update-batch answer), plus the queued tasks of jobs
    that changed after ``since``.

    Why the jobs: a job's tasks carry the time construction *started*, which
    can be before ``since`` when another task changed while the job was being
    built (a big job is built by Celery over seconds or minutes). Without
    this the Manager would never learn about them incrementally. The job's
    ``_updated`` is written when it becomes runnable, so it is newer than
    ``since`` exactly when the Manager has not seen it runnable yet.
    """
    job_ids = [job["_id"] for job in jobs]
    if since is None:
        statuses = status.DEPSGRAPH_CLEAN_SLATE_TASK_STATUSES
    else:
        statuses = status.DEPSGRAPH_MODIFIED_SINCE_TASK_STATUSES
    query: dict = {"manager": manager_id, "job": {"$in": job_ids}, "status": {"$in": sorted(statuses)}}
    if since is not None:
        changed_jobs = [job["_id"] for job in jobs if job.get("_updated") and job["_updated"] > since]
        query["$or"] = [{"_updated": {"$gt": since}}, {"job": {"$in": changed_jobs}, "status": "queued"}]
    return query


def add_requirements(tasks: list[dict], jobs: list[dict]) -> None:
    """Each task carries its job's requirements (issue 15), so the Manager's scheduler can match
    workers without asking for jobs. Added here rather than stored in every task: a job's
    requirements live in one place, and Flamenco 2 Managers ignore the unknown field."""
    by_job = {job["_id"]: requirements.compact(job.get("requirements")) for job in jobs}
    for task in tasks:
        required = by_job.get(task["job"])
        if required:
            task["requirements"] = required


def pull_depsgraph(db: Database, manager_id: ObjectId, since: datetime.datetime | None) -> Depsgraph:
    """Find the Manager's tasks and claim the queued ones, in a bounded number of queries."""
    jobs = list(db[JOBS].find(
        {"manager": manager_id, "status": {"$in": sorted(status.DEPSGRAPH_RUNNABLE_JOB_STATUSES)}},
        projection=["_id", "_updated", "requirements"]))
    if not jobs:
        return Depsgraph(tasks=None)
    tasks = list(db[TASKS].find(task_query(manager_id, jobs, since)))
    if not tasks:
        return Depsgraph(tasks=[])
    queued = [task for task in tasks if task["status"] == "queued"]
    if queued:
        for task in queued:
            task["status"] = "claimed-by-manager"
            task.pop("log_file", None)
        status.mark_tasks_claimed(db, manager_id, [task["_id"] for task in queued],
                                  job_of={task["_id"]: task["job"] for task in queued},
                                  docs={task["_id"]: task for task in queued})
    add_requirements(tasks, jobs)  # after the claim: its listeners get the tasks as stored
    # Never move the Manager's marker backwards (tasks of a changed job may be older).
    newest = max((task["_updated"] for task in tasks if task.get("_updated")), default=None)
    last_updated = max(newest, since) if newest and since else newest or since
    return Depsgraph(tasks=tasks, last_updated=last_updated)
