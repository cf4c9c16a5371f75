"""Builds the task documents of one job, ready for a single ``insert_many`` (reference §2.3, §4.1)."""
from __future__ import annotations

import datetime
import itertools
import secrets
from typing import Any, Iterable, Mapping

from bson import ObjectId

from flamenco.job_compilers.commands import Command
from flamenco_protocol.statuses import TaskStatus

# Flamenco 2's api_create_task default: tasks without a specific priority.
DEFAULT_TASK_PRIORITY = 50
# Job priority when the job document has none (Eve's schema default).
DEFAULT_JOB_PRIORITY = 50


class TaskFactory:
    """Makes task dicts sharing the job's fields; ``_id``s are assigned up front so parents can refer to them."""

    def __init__(self, job: Mapping[str, Any], now: datetime.datetime) -> None:
        self._common = {
            "job": job["_id"],
            "manager": job.get("manager"),
            "project": job.get("project"),
            "user": job.get("user"),
            "status": TaskStatus.UNDER_CONSTRUCTION,
            "job_priority": job.get("priority", DEFAULT_JOB_PRIORITY),
            "job_type": job["job_type"],
            "_created": now,
            "_updated": now,
        }
        self.tasks: list[dict[str, Any]] = []
        # ObjectIds built from a counter are four times faster than ``ObjectId()``
        # for 100k-task jobs. Same layout: 4-byte timestamp, 5 random bytes (per
        # job instead of per process, so they cannot collide with the driver's),
        # 3-byte counter (2**24 ids, far more than a job's tasks).
        self._id_prefix = int(now.timestamp()).to_bytes(4, "big") + secrets.token_bytes(5)
        self._counter = itertools.count()
        # Etags only need to be unique per document: a per-job random part plus the counter.
        self._etag_prefix = secrets.token_hex(10)

    def add(self, name: str, task_type: str, commands: list[Command], *, parents: Iterable[ObjectId] = (),
            priority: int = DEFAULT_TASK_PRIORITY) -> ObjectId:
        """Append one task and return its ``_id``; ``parents`` is stored only when non-empty."""
        counter = next(self._counter)
        task_id = ObjectId(self._id_prefix + counter.to_bytes(3, "big"))
        task = {
            "_id": task_id,
            **self._common,
            "name": name,
            "priority": priority,
            "task_type": task_type,
            "commands": commands,
            "_etag": f"{self._etag_prefix}{counter:06x}",
        }
        parent_ids = list(parents)
        if parent_ids:
            task["parents"] = parent_ids
        self.tasks.append(task)
        return task_id
