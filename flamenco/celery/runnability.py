"""Fail active jobs that can never finish (reference §7 runnability check).

A job can stay ``active`` forever when its remaining tasks depend on a failed
or cancelled task but fewer than 10 % of its tasks failed. Flamenco 2 found
them with ``$lookup``, which the local store lacks (flamenco.store:
no-lookup); here it is two queries joined in Python, which works the same on
MongoDB.
"""
from __future__ import annotations

import logging

from bson import ObjectId
from pymongo.database import Database

from flamenco import status
from flamenco.store.collections import JOBS, TASKS
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)


def active_job_ids(db: Database) -> list[ObjectId]:
    """Jobs to check: the active ones."""
    return [job["_id"] for job in db[JOBS].find({"status": JobStatus.ACTIVE}, projection=["_id"])]


def count_blocked_tasks(db: Database, job_id: ObjectId) -> int:
    """Queued-ish tasks of the job with at least one failed or cancelled parent."""
    failed = {t["_id"] for t in db[TASKS].find(
        {"job": job_id, "status": {"$in": sorted(status.FAILED_TASK_STATES)}}, projection=["_id"])}
    if not failed:
        return 0
    waiting = db[TASKS].find({"job": job_id, "status": {"$in": sorted(status.QUEUED_TASK_STATES)}},
                             projection=["parents"])
    return sum(1 for task in waiting if failed.intersection(task.get("parents") or ()))


def check_job_runnability(db: Database, job_id: ObjectId) -> status.JobStatusChange | None:
    """If the job is still active and has blocked tasks, request it to fail; return the change."""
    job = db[JOBS].find_one({"_id": job_id}, projection=["status"])
    if job is None or job["status"] != JobStatus.ACTIVE:
        return None
    blocked = count_blocked_tasks(db, job_id)
    if not blocked:
        return None
    reason = f"{blocked} tasks have a failed/cancelled parent and will not be able to run."
    log.info("job %s: %s", job_id, reason)
    try:
        change = status.set_job_status(db, job_id, JobStatus.FAIL_REQUESTED, actor=status.Actor.SYSTEM, reason=reason)
    except status.StatusConflict:
        return None  # changed meanwhile; the next check looks again
    return change
