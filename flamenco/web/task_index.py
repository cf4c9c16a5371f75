"""Each job's tasks as the dashboard shows them: rows and status counts, kept in Redis.

See ``flamenco.web.row_index`` for how the read model is seeded and kept
current. A task event patches its row; a job event that changed tasks in bulk
drops the job's index, so the next page seeds it again.
"""
from __future__ import annotations

from typing import Sequence

import redis
from bson import ObjectId
from pymongo.database import Database

from flamenco.store.collections import TASKS
from flamenco.web import row_index
from flamenco.web.row_index import Counts
from flamenco_protocol.statuses import TaskStatus

# Task fields kept per row; all but ``parents`` also travel in task events.
ROW_FIELDS = ("name", "status", "task_type", "worker", "activity", "priority", "_updated",
              "task_progress_percentage", "parents")

INDEX = row_index.RowIndex(
    collection=TASKS, group_field="job", fields=ROW_FIELDS, key_prefix="flamenco:job-tasks",
    # Re-seeded at the latest this long after seeding; events keep it current meanwhile.
    seconds=3600,
    decoders={"parents": row_index.to_object_ids, "_updated": row_index.to_datetime},
)


def queue_events(pipe: redis.client.Pipeline, events: Sequence[dict], *, tasks_changed: bool) -> None:
    """Add the index updates of one publish's events to a Redis pipeline (``flamenco.web.live_feed``):
    task events patch their job's rows (one script call per job); job events that changed
    tasks in bulk drop their job's index."""
    INDEX.queue_apply(pipe, [e for e in events if e["kind"] == "task" and e.get("job")])
    if tasks_changed:
        for job_id in dict.fromkeys(e["job"] for e in events if e["kind"] == "job" and e.get("job")):
            INDEX.queue_drop(pipe, job_id)


def _sort_key(row: dict) -> tuple:
    """Task table order: higher priority first, then creation order (ObjectId)."""
    return (-(row.get("priority") or 0), row["_id"])


def rows_for_job(db: Database, client: redis.Redis, job_id: ObjectId) -> list[dict]:
    """All rows of a job's tasks, in task-table order; ``_id`` and ``parents`` as ObjectIds."""
    rows = INDEX.rows(db, client, job_id)
    for row in rows:
        row.setdefault("parents", [])
    return sorted(rows, key=_sort_key)


def progress(counts: Counts) -> dict:
    """Summary for a progress bar: total, done (completed) and percentage."""
    total = sum(counts.values())
    done = counts.get(TaskStatus.COMPLETED, 0)
    return {"total": total, "done": done, "percent": round(100 * done / total) if total else 0}
