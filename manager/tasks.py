"""The task cache: tasks from the Server's depsgraph, as the Manager sees them.

Waiting and running tasks live in ``tasks``, the only collection the scheduler
scans; finished ones move to ``tasks_done`` so that the hot collection stays
small (on FerretDB every query scans its collection).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from bson import ObjectId
from bson.errors import InvalidId

from flamenco_manager import db as dbmod
from flamenco_manager import statuses, sync_requests
from flamenco_manager.context import ManagerContext

# Task fields that hold ObjectIds (strings on the wire).
ID_FIELDS = ("_id", "job", "manager", "project", "user")
# Fields in which the local value is newer while updates still wait to go up.
SERVER_FIELDS_LOCAL_WINS = ("status", "failed_by_workers", "activity", "worker")
# Local bookkeeping, never sent to workers or the Server.
LOCAL_FIELDS = ("worker_id", "last_worker_ping", "last_updated")


def parse_id(value: Any) -> ObjectId | None:
    """An ObjectId from a 24-hex string (or ObjectId); None when invalid."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(str(value))
    except (InvalidId, TypeError):
        return None


def find_task(ctx: ManagerContext, task_id: ObjectId) -> dict | None:
    """The cached task, whether waiting, running or finished."""
    return ctx.db[dbmod.TASKS].find_one({"_id": task_id}) or ctx.db[dbmod.TASKS_DONE].find_one({"_id": task_id})


def from_wire(doc: dict, now: dt.datetime) -> dict:
    """A Server task document as stored in the cache."""
    task = {k: v for k, v in doc.items() if k not in LOCAL_FIELDS}
    for key in ID_FIELDS:
        if task.get(key) is not None:
            task[key] = parse_id(task[key]) or task[key]
    task["parents"] = [parse_id(p) or p for p in task.get("parents") or []]
    task.setdefault("task_type", "unknown")
    task.setdefault("priority", 0)
    task.setdefault("job_priority", 50)
    task["last_updated"] = now
    return task


def to_wire(task: dict) -> dict:
    """A cached task as JSON for a worker: ids as hex strings, no bookkeeping."""
    out = {}
    for key, value in task.items():
        if key in LOCAL_FIELDS:
            continue
        if isinstance(value, ObjectId):
            value = str(value)
        elif isinstance(value, dt.datetime):
            value = value.isoformat()
        elif key == "parents":
            value = [str(p) for p in value]
        elif key == "failed_by_workers":
            value = [{"id": str(f["id"]), "identifier": f.get("identifier", "")} for f in value]
        out[key] = value
    if not out.get("parents"):
        out.pop("parents", None)
    return out


def server_fields(task: dict, updates_pending: bool) -> dict:
    """The fields of the Server's copy of a task (``from_wire``) to ``$set`` on the cached one.

    While updates for the task still wait to go up, the Server has not heard
    the latest, so the local status, activity, worker and failures stay.
    """
    fields = {k: v for k, v in task.items() if k != "_id"}
    if updates_pending:
        for key in SERVER_FIELDS_LOCAL_WINS:
            fields.pop(key, None)
    return fields


def has_pending_updates(ctx: ManagerContext, task_id: ObjectId) -> bool:
    """Whether updates of this task wait in the queue for the Server."""
    return ctx.db[dbmod.UPDATE_QUEUE].find_one({"task_id": task_id}, {"_id": 1}) is not None


def store_downloaded(ctx: ManagerContext, docs: Iterable[dict]) -> int:
    """Merge a depsgraph into the cache; return how many tasks were stored.

    Unlike the original's full replacement (reference D.1.4), local bookkeeping
    (``worker_id``, ``last_worker_ping``, ``failed_by_workers``) survives. The
    Server's status wins unless updates for the task are still waiting to go
    up: then the Server has not heard the latest yet, and the local status is
    newer.
    """
    now = ctx.now()
    incoming = [from_wire(d, now) for d in docs]
    if not incoming:
        return 0
    ids = [t["_id"] for t in incoming]
    hot = ctx.db[dbmod.TASKS]
    existing = {t["_id"]: t for t in hot.find({"_id": {"$in": ids}}, {"status": 1})}
    done = {t["_id"]: t for t in ctx.db[dbmod.TASKS_DONE].find({"_id": {"$in": ids}})}
    pending = set(ctx.db[dbmod.UPDATE_QUEUE].distinct("task_id", {"task_id": {"$in": ids}}))
    new = []
    requeued = []
    for task in incoming:
        tid = task["_id"]
        if tid in existing:
            fields = server_fields(task, updates_pending=tid in pending)
            hot.update_one({"_id": tid}, {"$set": fields})
            if fields.get("status") in statuses.SCHEDULABLE:
                requeued.append(tid)
        elif tid in done and tid in pending:
            continue  # finished here; the Server will hear it with the next push
        else:
            if tid in done:
                task = {**done[tid], **task}
                ctx.db[dbmod.TASKS_DONE].delete_one({"_id": tid})
            new.append(task)
    if new:
        hot.insert_many(new)
    if requeued:
        # The Server re-queued tasks that may have been running here: free them.
        ctx.db[dbmod.CLAIMS].delete_many({"_id": {"$in": requeued}})
    sync_requests.mark_schedulable_changed(ctx)
    return len(incoming)


def archive(ctx: ManagerContext, task_id: ObjectId) -> None:
    """Move a finished task out of the hot collection."""
    task = ctx.db[dbmod.TASKS].find_one({"_id": task_id})
    if task is None:
        return
    ctx.db[dbmod.TASKS_DONE].replace_one({"_id": task_id}, task, upsert=True)
    ctx.db[dbmod.TASKS].delete_one({"_id": task_id})


def count(ctx: ManagerContext) -> int:
    return ctx.db[dbmod.TASKS].count_documents({}) + ctx.db[dbmod.TASKS_DONE].count_documents({})


def is_final(status: str | None) -> bool:
    return status in statuses.FINAL
