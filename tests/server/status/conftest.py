"""Fixtures for the status-rule tests: jobs with tasks forced into given statuses."""
from __future__ import annotations

import datetime
from typing import Callable, Iterable

import pytest
from bson import ObjectId
from pymongo.database import Database

from flamenco.store.collections import JOBS, TASKS

# Status of the 9 render tasks of reference §3.8's starting point, in order.
SCENARIO_TASK_STATUSES = ("queued", "claimed-by-manager", "completed", "active", "canceled", "failed",
                          "cancel-requested", "paused", "soft-failed")
# A time before any write of the test, to see which documents a rule touched.
LONG_AGO = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)

MakeJob = Callable[..., tuple[ObjectId, list[ObjectId]]]


@pytest.fixture
def make_job(mongo_db: Database) -> MakeJob:
    """Insert a job with one task per given status; return (job id, task ids in order)."""

    def make(task_statuses: Iterable[str], job_status: str = "queued", **task_fields) -> tuple[ObjectId, list[ObjectId]]:
        job_id = ObjectId()
        mongo_db[JOBS].insert_one({
            "_id": job_id, "name": "test job", "job_type": "sleep", "status": job_status, "priority": 50,
            "manager": ObjectId(), "project": ObjectId(), "user": ObjectId(),
            "_updated": LONG_AGO, "_etag": "old",
        })
        tasks = [{
            "_id": ObjectId(), "job": job_id, "name": f"task-{index}", "status": task_status,
            "priority": 50, "job_priority": 50, "job_type": "sleep", "task_type": "sleep", "commands": [],
            "_updated": LONG_AGO, "_etag": "old", **task_fields,
        } for index, task_status in enumerate(task_statuses)]
        if tasks:
            mongo_db[TASKS].insert_many(tasks)
        return job_id, [task["_id"] for task in tasks]

    return make


def task_statuses(db: Database, task_ids: list[ObjectId]) -> list[str]:
    """Statuses of the given tasks, in the given order."""
    by_id = {task["_id"]: task["status"] for task in db[TASKS].find({"_id": {"$in": task_ids}})}
    return [by_id[task_id] for task_id in task_ids]


def job_status(db: Database, job_id: ObjectId) -> str:
    return db[JOBS].find_one({"_id": job_id})["status"]
