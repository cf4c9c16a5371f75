"""Builds the task documents of one job, ready for a single ``insert_many`` (reference §2.3, §4.1)."""
from __future__ import annotations

import datetime
import itertools
import secrets
from typing import Any, Iterable, Iterator, Mapping

from bson import ObjectId

from flamenco.job_compilers.commands import Command

# Flamenco 2's api_create_task default: tasks without a specific priority.
DEFAULT_TASK_PRIORITY = 50
# Job priority when the job document has none (Eve's schema default).
DEFAULT_JOB_PRIORITY = 50


def object_ids(now: datetime.datetime) -> Iterator[ObjectId]:
    """Fresh ObjectIds, four times faster than ``ObjectId()`` for 100k-task jobs.

    Same layout as ``ObjectId()``: 4-byte timestamp, 5 random bytes (drawn per
    job instead of per process, so they cannot collide with the driver's own),
    3-byte counter (2**24 ids, far more than a job's tasks).
    """
    prefix = int(now.timestamp()).to_bytes(4, "big") + secrets.token_bytes(5)
    return (ObjectId(prefix + counter.to_bytes(3, "big")) for counter in itertools.count())


class TaskFactory:
    """Makes task dicts sharing the job's fields; ``_id``s are assigned up front so parents can refer to them."""

    def __init__(self, job: Mapping[str, Any], now: datetime.datetime) -> None:
        self._common = {
            "job": job["_id"],
            "manager": job.get("manager"),
            "project": job.get("project"),
            "user": job.get("user"),
            "status": "under-construction",
            "job_priority": job.get("priority", DEFAULT_JOB_PRIORITY),
            "job_type": job["job_type"],
            "_created": now,
            "_updated": now,
        }
        self.tasks: list[dict[str, Any]] = []
        self._ids = object_ids(now)
        # Etags only need to be unique per document: the id plus a per-job random part.
        self._etag_suffix = secrets.token_hex(8)

    def add(self, name: str, task_type: str, commands: list[Command], *, parents: Iterable[ObjectId] = (),
            priority: int = DEFAULT_TASK_PRIORITY) -> ObjectId:
        """Append one task and return its ``_id``; ``parents`` is stored only when non-empty."""
        task_id = next(self._ids)
        task = {
            "_id": task_id,
            **self._common,
            "name": name,
            "priority": priority,
            "task_type": task_type,
            "commands": commands,
            "_etag": str(task_id) + self._etag_suffix,
        }
        parent_ids = list(parents)
        if parent_ids:
            task["parents"] = parent_ids
        self.tasks.append(task)
        return task_id
