"""Helpers for the job-compiler tests: job documents as the server stores them."""
from __future__ import annotations

import datetime
from typing import Any

from bson import ObjectId

# A fixed creation time, so intermediate directory names are predictable.
CREATED = datetime.datetime(2018, 7, 6, 11, 52, 33, tzinfo=datetime.timezone.utc)
INTERMEDIATE = "/render/out__intermediate-2018-07-06_115233"


def make_job(job_type: str, settings: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "_id": ObjectId(), "_created": CREATED, "name": "test", "job_type": job_type, "status": "under-construction",
        "priority": 60, "manager": ObjectId(), "project": ObjectId(), "user": ObjectId(), "settings": settings,
        **fields,
    }


def by_name(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {task["name"]: task for task in tasks}


def summary(tasks: list[dict[str, Any]]) -> list[tuple[str, str, int, list[str]]]:
    """(name, task_type, priority, parent names) per task, in compile order."""
    names = {task["_id"]: task["name"] for task in tasks}
    return [(task["name"], task["task_type"], task["priority"], [names[p] for p in task.get("parents", [])])
            for task in tasks]
