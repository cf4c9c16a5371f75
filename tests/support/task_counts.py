"""Test helpers for the per-job task counts (``flamenco.task_counts``).

``assert_task_counts`` compares what the job document holds with a real count
of the job's tasks; ``force_tasks`` is the shortcut tests take past the status
rules (writing task fields directly), keeping the counts true.
"""
from __future__ import annotations

from typing import Any, Mapping

from bson import ObjectId
from pymongo.database import Database

from flamenco import status, task_counts
from flamenco.store.collections import JOBS, TASKS


def stored_task_counts(db: Database, job_id: ObjectId) -> dict[str, int] | None:
    """The counts in the job document (zero entries dropped), or None when it holds none."""
    job = db[JOBS].find_one({"_id": job_id}, projection=[task_counts.COUNTS_FIELD])
    assert job is not None, f"job {job_id} does not exist"
    counts = job.get(task_counts.COUNTS_FIELD)
    return None if counts is None else {s: n for s, n in counts.items() if n}


def assert_task_counts(db: Database, job_id: ObjectId, *, maintained: bool = True) -> dict[str, int]:
    """Assert that the job's task counts equal a real count of its tasks; return that count.

    ``maintained``: the counts in the job document are right as stored (the
    writers kept them): present, not marked stale, no writer left registered.
    Otherwise only what the rules read (which may recount) must be right.
    """
    real = task_counts.aggregate(db, job_id)
    if maintained:
        job = db[JOBS].find_one({"_id": job_id}, projection=list(task_counts.COUNTER_FIELDS))
        assert job is not None, f"job {job_id} does not exist"
        assert not job.get(task_counts.STALE_FIELD), f"counts of job {job_id} are marked stale"
        assert not job.get(task_counts.WRITERS_FIELD), f"writers left registered: {job[task_counts.WRITERS_FIELD]}"
        assert stored_task_counts(db, job_id) == real
    assert status.count_task_statuses(db, job_id) == real
    return real


def force_tasks(db: Database, query: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """``$set`` fields of the matching tasks directly; their jobs' counts are recounted on next read."""
    job_ids = db[TASKS].distinct("job", dict(query))
    db[TASKS].update_many(dict(query), {"$set": dict(fields)})
    for job_id in job_ids:
        task_counts.mark_stale(db, job_id)
