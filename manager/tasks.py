"""The task cache: tasks from the Server's depsgraph, as the Manager sees them.

Every cached task is in memory (``ctx.state.tasks``); the buffer's ``tasks``
collection is its durable copy. :func:`change` is the one way a cached task
changes: memory, the claim queue and the journal move together.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from bson import ObjectId
from bson.errors import InvalidId

from flamenco_manager import store
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_protocol.statuses import FINAL_TASK_STATUSES, SCHEDULABLE_TASK_STATUSES

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


@on_engine
def find_task(ctx: ManagerContext, task_id: ObjectId) -> dict | None:
    """The cached task, whether waiting, running or finished (a copy when asked from another thread)."""
    task = ctx.state.tasks.get(task_id)
    if task is None or ctx.engine.in_loop():
        return task
    return dict(task)


def change(ctx: ManagerContext, task: dict, sets: dict[str, Any], journal: bool = True) -> None:
    """Apply ``sets`` to the cached task: memory, claim queue, running index and (unless the
    caller makes the change durable otherwise, see ``update_queue``) the journal."""
    ctx.state.unindex(task)
    task.update(sets)
    ctx.state.index(task)
    if journal:
        persist(ctx, task, sets)


def persist(ctx: ManagerContext, task: dict, sets: dict[str, Any]) -> None:
    """Record a change of ``task`` in the journal, in the collection where it belongs.

    A finished task with no news left for the Server moves to ``tasks_done``
    (an insert and a delete); one that runs again moves back. Otherwise the
    change is a ``$set`` of the changed fields.
    """
    task_id, done = task["_id"], ctx.state.done
    final = task.get("status") in FINAL_TASK_STATUSES and not has_pending_updates(ctx, task_id)
    if final and task_id not in done:
        ctx.journal.insert(store.TASKS_DONE, dict(task))
        ctx.journal.delete(store.TASKS, task_id)
        done.add(task_id)
    elif final:
        ctx.journal.replace(store.TASKS_DONE, task)
    elif task_id in done:
        ctx.journal.replace(store.TASKS, task)
        ctx.journal.delete(store.TASKS_DONE, task_id)
        done.discard(task_id)
    else:
        ctx.journal.set(store.TASKS, task_id, sets)


def forget(ctx: ManagerContext, task: dict) -> None:
    """Drop a task (and its acknowledged, retained updates) from the cache and the buffer."""
    for update in ctx.state.retained.pop(task["_id"], []):
        ctx.journal.delete(store.UPDATE_QUEUE, update["_id"])
    ctx.state.unindex(task)
    del ctx.state.tasks[task["_id"]]
    ctx.journal.delete(store.TASKS_DONE if task["_id"] in ctx.state.done else store.TASKS, task["_id"])
    ctx.state.done.discard(task["_id"])


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
    """The fields of the Server's copy of a task (``from_wire``) to set on the cached one.

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
    return ctx.state.pending_per_task.get(task_id, 0) > 0


@on_engine
def store_downloaded(ctx: ManagerContext, docs: Iterable[dict]) -> int:
    """Merge a depsgraph into the cache; return how many tasks were stored.

    Unlike the original's full replacement (reference D.1.4), local bookkeeping
    (``worker_id``, ``last_worker_ping``, ``failed_by_workers``) survives. The
    Server's status wins unless updates for the task are still waiting to go
    up: then the Server has not heard the latest yet, and the local status is
    newer. A task the Server re-queued loses its worker here.
    """
    now = ctx.now()
    incoming = [from_wire(d, now) for d in docs]
    for task in incoming:
        tid = task["_id"]
        cached = ctx.state.tasks.get(tid)
        pending = has_pending_updates(ctx, tid)
        if cached is None:
            ctx.state.tasks[tid] = task
            ctx.state.index(task)
            ctx.journal.insert(store.TASKS, dict(task))  # new here and in the buffer: an insert, not an upsert
            continue
        if cached.get("status") in FINAL_TASK_STATUSES and pending:
            continue  # finished here; the Server will hear it with the next push
        fields = server_fields(task, updates_pending=pending)
        if fields.get("status") in SCHEDULABLE_TASK_STATUSES and cached.get("status") not in SCHEDULABLE_TASK_STATUSES:
            fields["worker_id"] = None  # re-queued by the Server: no longer anybody's
        change(ctx, cached, fields)
    return len(incoming)


