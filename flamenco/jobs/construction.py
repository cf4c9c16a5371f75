"""Store a submitted job and have it compiled, outside HTTP (tests, CLI, scripts).

Compilation itself is ``flamenco.status.construct_job``: it compiles, inserts
all tasks with ONE ``insert_many`` as ``under-construction``, flips job and
tasks to ``queued``/``paused`` with one timestamp, and on any failure deletes
the tasks and marks the job ``construction-failed`` (no debris, reference
§14.14). HTTP submission (``flamenco.jobs.hooks``) checks permissions first
and then does the same as :func:`submit_job`.
"""
from __future__ import annotations

import uuid

from bson import ObjectId
from pymongo.database import Database

from flamenco import job_compilers, status
from flamenco.auth.tokens import utcnow
from flamenco.defaults import JOB_PRIORITY_DEFAULT
from flamenco.jobs import JOBS


def validate_settings(job: dict) -> None:
    """Raise ``job_compilers.JobSettingsError(field, reason)`` if the job cannot be compiled."""
    job_compilers.validate_job(job)


def submit_job(db: Database, job: dict, reason: str = "") -> dict:
    """Store and compile a job without permission checks; return the stored job.

    ``job`` has ObjectId references; it is compiled unless it is ``waiting-for-files``.
    """
    job = {"status": "under-construction", "priority": JOB_PRIORITY_DEFAULT, "settings": {},
           "start_paused": False, **job}
    validate_settings(job)
    now = utcnow()
    job.update({"_id": job.get("_id") or ObjectId(), "_created": now, "_updated": now,
                "_etag": uuid.uuid4().hex})
    db[JOBS].insert_one(job)
    if job["status"] != "waiting-for-files":
        status.construct_job(db, job["_id"], reason=reason or "Job submitted")
    return db[JOBS].find_one({"_id": job["_id"]})
