"""Every change to a cached task goes through here (reference A.4.3).

``queue_update`` writes the log to disk, queues a TaskUpdate for the Server in
``task_update_queue`` (which survives any Server outage: nothing leaves it
until the Server acknowledges it), and applies the change to the cache.
Updates are ordered by ``queued_at_ns``, a nanosecond wall-clock stamp, so
pushes go up in the order they happened, across several API processes.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from flamenco_manager import db as dbmod
from flamenco_manager import statuses, sync_requests, task_logs, tasks
from flamenco_manager.context import ManagerContext

# Fields of a TaskUpdate that are copied onto the cached task as they are.
COPIED_FIELDS = ("activity", "task_progress_percentage", "current_command_index",
                 "command_progress_percentage", "worker", "failed_by_workers")
# Tasks the Manager made itself; the Server never hears of them.
MANAGER_LOCAL_JOB_TYPE = "manager-local"


def rfc3339_ns(ns: int) -> str:
    """``2020-01-02T03:04:05.123456789Z`` from nanoseconds since the epoch."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def _next_stamp() -> int:
    """A strictly increasing nanosecond stamp within this process."""
    global _last_stamp
    stamp = max(time.time_ns(), _last_stamp + 1)
    _last_stamp = stamp
    return stamp


_last_stamp = 0


def queue_update(ctx: ManagerContext, task: dict, update: dict[str, Any], *, log: str = "",
                 extra_set: dict[str, Any] | None = None) -> str:
    """Log, queue and apply ``update`` to ``task``; return the task's status after it.

    ``update`` holds TaskUpdate fields (``task_status``, ``activity``, ...);
    ``extra_set`` holds local-only fields for the cache (``worker_id``, ...).
    A status the transition rule refuses is dropped from the update, so the
    Server and the cache agree.
    """
    update = {k: v for k, v in update.items() if v is not None}
    current = task.get("status")
    new_status = update.get("task_status")
    if new_status and not statuses.transition_allowed(current, new_status):
        update.pop("task_status")
        new_status = None
    job_id = str(task.get("job") or "") or None
    if new_status == statuses.ACTIVE and current != statuses.ACTIVE:
        task_logs.rotate(ctx.config.task_logs_path, job_id, str(task["_id"]), ctx.config.task_log_max_rotations)
    if log:
        task_logs.append(ctx.config.task_logs_path, job_id, str(task["_id"]), log)
        update["log_tail"] = task_logs.tail(log)
    stamp = _next_stamp()
    doc = {"_id": ObjectId(), "task_id": task["_id"], "queued_at_ns": stamp, **update}
    if task.get("job_type") != MANAGER_LOCAL_JOB_TYPE:
        ctx.db[dbmod.UPDATE_QUEUE].insert_one(doc)
    apply_locally(ctx, task, update, extra_set or {})
    return new_status or current


def apply_locally(ctx: ManagerContext, task: dict, update: dict, extra_set: dict) -> None:
    """Apply an update to the cached task (and ``task``) without queueing it for the Server.

    ``queue_update`` calls it after queueing; on its own it is for changes the
    Server told us about, which it need not hear back. A status other than
    ``active`` releases the task's claim; a final one archives the task.
    """
    sets: dict[str, Any] = {"last_updated": ctx.now(), **extra_set}
    new_status = update.get("task_status")
    if new_status:
        sets["status"] = new_status
    for key in COPIED_FIELDS:
        if key in update:
            sets[key] = update[key]
    timing = (update.get("metrics") or {}).get("timing")
    if timing:
        sets["metrics"] = {**(task.get("metrics") or {}), "timing": timing}
    result = ctx.db[dbmod.TASKS].update_one({"_id": task["_id"]}, {"$set": sets})
    if result.matched_count == 0:
        ctx.db[dbmod.TASKS_DONE].update_one({"_id": task["_id"]}, {"$set": sets})
    if new_status and new_status != statuses.ACTIVE:
        ctx.db[dbmod.CLAIMS].delete_one({"_id": task["_id"]})
    if new_status in statuses.FINAL:
        tasks.archive(ctx, task["_id"])
    elif new_status in statuses.SCHEDULABLE:
        sync_requests.mark_schedulable_changed(ctx)
    task.update(sets)


def queue_unknown_task_canceled(ctx: ManagerContext, task_id: ObjectId) -> None:
    """Tell the Server a task it wants cancelled is not here (so it is canceled)."""
    ctx.db[dbmod.UPDATE_QUEUE].insert_one({
        "_id": ObjectId(), "task_id": task_id, "queued_at_ns": _next_stamp(),
        "task_status": statuses.CANCELED, "activity": "Manager cancelled task by request of Flamenco Server",
    })


def pending_batch(db: Database, limit: int) -> list[dict]:
    """The oldest ``limit`` queued updates, in the order they happened."""
    return list(db[dbmod.UPDATE_QUEUE].find({}).sort([("queued_at_ns", 1), ("_id", 1)]).limit(limit))


def to_wire(doc: dict) -> dict:
    """A queued update as the Server's task-update-batch expects it."""
    out = {k: v for k, v in doc.items() if k not in ("_id", "task_id", "queued_at_ns", "push_attempts")}
    out["_id"] = str(doc["_id"])
    out["task_id"] = str(doc["task_id"])
    out["received_on_manager"] = rfc3339_ns(doc["queued_at_ns"])
    if "failed_by_workers" in out:
        out["failed_by_workers"] = [{"id": str(f["id"]), "identifier": f.get("identifier", "")}
                                    for f in out["failed_by_workers"]]
    return out


def acknowledge(db: Database, update_ids: list[ObjectId]) -> int:
    """Drop the updates the Server handled."""
    if not update_ids:
        return 0
    return db[dbmod.UPDATE_QUEUE].delete_many({"_id": {"$in": update_ids}}).deleted_count


def set_aside_unacknowledged(db: Database, sent: list[dict], handled: set[ObjectId], max_attempts: int) -> int:
    """Count a push against updates the Server did not handle; move the hopeless ones aside.

    The original kept them for ever, starving every later update (reference D.1.3).
    """
    unhandled = [d for d in sent if d["_id"] not in handled]
    if not unhandled:
        return 0
    ids = [d["_id"] for d in unhandled]
    db[dbmod.UPDATE_QUEUE].update_many({"_id": {"$in": ids}}, {"$inc": {"push_attempts": 1}})
    hopeless = [d for d in unhandled if d.get("push_attempts", 0) + 1 >= max_attempts]
    if hopeless:
        db[dbmod.UPDATE_REJECTS].insert_many(hopeless)
        db[dbmod.UPDATE_QUEUE].delete_many({"_id": {"$in": [d["_id"] for d in hopeless]}})
    return len(hopeless)


def queue_size(db: Database) -> int:
    return db[dbmod.UPDATE_QUEUE].count_documents({})
