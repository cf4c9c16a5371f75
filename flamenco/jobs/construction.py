"""Compile a job into tasks and put them in place, or leave no trace trying.

All tasks of a job go in with ONE ``insert_many`` as ``under-construction``;
then ``flamenco.status`` flips the job and its tasks to ``queued`` (or
``paused``) with one timestamp, so a Manager's incremental depsgraph never
sees half a job. If anything fails, the job's tasks are deleted and the job
becomes ``construction-failed`` with the error as ``status_reason`` (Flamenco
2 left tasks behind, reference §14.14).
"""
from __future__ import annotations

import logging
import uuid

from bson import ObjectId
from pymongo.database import Database

from flamenco import job_compilers, status
from flamenco.auth.tokens import utcnow
from flamenco.jobs import JOBS, TASKS
from flamenco.managers import MANAGERS

log = logging.getLogger(__name__)


def construct_job(db: Database, job: dict, reason: str) -> str:
    """Compile ``job`` (already stored, ``under-construction``) and return its new status."""
    job_id = job["_id"]
    try:
        manager = db[MANAGERS].find_one({"_id": job.get("manager")})
        docs = job_compilers.compile_job(job, manager=manager)
        if docs:
            db[TASKS].insert_many(docs, ordered=False)
        change = status.flip_compiled_job(db, job_id, paused=bool(job.get("start_paused")))
        return change.status
    except Exception as ex:  # any compiler or database failure must leave no half-built job
        log.exception("construction of job %s failed", job_id)
        db[TASKS].delete_many({"job": job_id})
        failure = f"{reason}; compilation failed: {ex}" if reason else f"compilation failed: {ex}"
        status.set_job_status(db, job_id, "construction-failed", actor=status.Actor.SYSTEM, reason=failure)
        return "construction-failed"


def validate_settings(job: dict) -> None:
    """Raise ``job_compilers.JobSettingsError(field, reason)`` if the job cannot be compiled."""
    job_compilers.validate_job(job)


def submit_job(db: Database, job: dict, reason: str = "") -> dict:
    """Store and compile a job without HTTP (tests, CLI); return the stored job.

    ``job`` has ObjectId references. No permission checks: HTTP submission
    goes through ``flamenco.jobs.hooks``, which checks and then does the same.
    """
    job = {"status": "under-construction", "priority": 50, "settings": {}, "start_paused": False, **job}
    validate_settings(job)
    now = utcnow()
    job.update({"_id": job.get("_id") or ObjectId(), "_created": now, "_updated": now,
                "_etag": uuid.uuid4().hex})
    db[JOBS].insert_one(job)
    if job["status"] != "waiting-for-files":
        construct_job(db, job, reason)
    return db[JOBS].find_one({"_id": job["_id"]})
