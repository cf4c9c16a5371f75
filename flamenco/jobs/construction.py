"""Store and compile jobs; the compile-and-queue rule itself lives in ``flamenco.status``.

``status.construct_job`` inserts all tasks with one ``insert_many`` already in
their final status and then flips the job alone: on FerretDB/SQLite every
updated document costs a table scan, so Flamenco 2's insert-then-flip of each
task grew quadratically (1,000 tasks: 45 s). On any failure the job becomes
``construction-failed`` with no tasks left behind (reference §14.14).
"""
from __future__ import annotations

import uuid
from typing import Any, Mapping

from bson import ObjectId
from pymongo.database import Database

from flamenco import job_compilers, status
from flamenco.defaults import JOB_PRIORITY_DEFAULT
from flamenco.jobs import JOBS


def validate_settings(job: dict) -> None:
    """Raise ``job_compilers.JobSettingsError(field, reason)`` if the job cannot be compiled."""
    job_compilers.validate_job(job)


def construct_job(db: Database, job_id: ObjectId, *, reason: str,
                  new_settings: Mapping[str, Any] | None = None) -> str:
    """Compile the job and queue (or pause) it with all its tasks; return its final status.

    ``new_settings`` are merged into ``job.settings`` first (PATCH ``construct``).
    Raises ``status.IllegalTransition`` if the job is not in a constructible status.
    """
    return status.construct_job(db, job_id, reason=reason, new_settings=new_settings).status


def submit_job(db: Database, job: dict, reason: str = "Job submitted") -> dict:
    """Store and compile a job without permission checks (tests, CLI); return the stored job.

    ``job`` has ObjectId references; it is compiled unless it is ``waiting-for-files``.
    HTTP submission (``flamenco.jobs.hooks``) checks permissions and then does the same.
    """
    job = {"status": "under-construction", "priority": JOB_PRIORITY_DEFAULT, "settings": {},
           "start_paused": False, **job}
    validate_settings(job)
    now = status.utcnow()
    job.update({"_id": job.get("_id") or ObjectId(), "_created": now, "_updated": now,
                "_etag": uuid.uuid4().hex})
    db[JOBS].insert_one(job)
    if job["status"] != "waiting-for-files":
        construct_job(db, job["_id"], reason=reason)
    return db[JOBS].find_one({"_id": job["_id"]})
