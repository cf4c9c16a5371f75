"""Every change to a cached task that the Server must hear goes through here (reference A.4.3).

``queue_update`` writes the log to disk, queues a TaskUpdate for the Server
(in memory and, through the journal, in ``task_update_queue``, which survives
any Server outage: nothing leaves it until the Server acknowledges it) and
applies the change to the cache. Updates are ordered by ``queued_at_ns``, a
nanosecond stamp that only grows, so pushes go up in the order they happened.

The queued update is also the durable record of the change to the cached
task: it carries the task fields it changed (``task_sets``), which a restart
replays onto the stored task. An update the Server acknowledged leaves the
queue in memory (it is not sent again) but stays in the buffer, *retained*,
until its task finishes (or ``RETAIN_MAX`` of them gather): then one
checkpoint writes their changes into the task document (a finished task
moves to ``tasks_done``) in the same flush that deletes them. So a task is
written once for its whole run, not once per change (``store.py`` says why
that matters). After a restart the retained updates are sent again; the
Server recognises them as applied (its per-task watermark) and only
acknowledges them.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any, Iterable

from bson import ObjectId

from flamenco_manager import store, task_logs, tasks
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_manager.state import TASK_SETS
from flamenco_protocol import wire
from flamenco_protocol.statuses import FINAL_TASK_STATUSES, SCHEDULABLE_TASK_STATUSES, TaskStatus, task_transition_allowed

# Fields of a TaskUpdate that are copied onto the cached task as they are.
COPIED_FIELDS = (wire.ACTIVITY, wire.TASK_PROGRESS_PERCENTAGE, wire.CURRENT_COMMAND_INDEX,
                 wire.COMMAND_PROGRESS_PERCENTAGE, wire.WORKER, wire.FAILED_BY_WORKERS)
# Tasks the Manager made itself; the Server never hears of them.
MANAGER_LOCAL_JOB_TYPE = "manager-local"
# Queue bookkeeping, never sent upstream.
LOCAL_UPDATE_FIELDS = ("_id", "task_id", "queued_at_ns", "push_attempts", TASK_SETS)
# Acknowledged updates kept per unfinished task before they are checkpointed
# anyway (a long render reports progress many times).
RETAIN_MAX = 20


def rfc3339_ns(ns: int) -> str:
    """``2020-01-02T03:04:05.123456789Z`` from nanoseconds since the epoch."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


_last_stamp = 0


def _next_stamp() -> int:
    """A strictly increasing nanosecond stamp within this process."""
    global _last_stamp
    stamp = max(time.time_ns(), _last_stamp + 1)
    _last_stamp = stamp
    return stamp


def _enqueue(ctx: ManagerContext, doc: dict) -> None:
    ctx.state.updates[doc["_id"]] = doc
    ctx.state.pending_per_task[doc["task_id"]] += 1
    ctx.journal.insert(store.UPDATE_QUEUE, doc)


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
    new_status = update.get(wire.TASK_STATUS)
    if new_status and not task_transition_allowed(current, new_status):
        update.pop(wire.TASK_STATUS)
        new_status = None
    job_id = str(task.get("job") or "") or None
    if new_status == TaskStatus.ACTIVE and current != TaskStatus.ACTIVE:
        ctx.journal.rotate_log(ctx.config.task_logs_path, job_id, str(task["_id"]), ctx.config.task_log_max_rotations)
    if log:
        ctx.journal.append_log(ctx.config.task_logs_path, job_id, str(task["_id"]), log)
        # The chunk itself goes up too (Flamenco 2's TaskUpdate ``log``), so the Server's task page can
        # tail the log live; ``log_tail`` stays for what the task document shows.
        update[wire.LOG] = log
        update[wire.LOG_TAIL] = task_logs.tail(log)
    sets = task_sets(ctx, task, update, extra_set or {})
    if task.get("job_type") == MANAGER_LOCAL_JOB_TYPE:
        tasks.change(ctx, task, sets)
    else:
        _enqueue(ctx, {"_id": ObjectId(), "task_id": task["_id"], "queued_at_ns": _next_stamp(), **update,
                       TASK_SETS: sets})
        tasks.change(ctx, task, sets, journal=False)  # durable through the queued update
    return str(new_status or current or "")


def task_sets(ctx: ManagerContext, task: dict, update: dict, extra_set: dict) -> dict[str, Any]:
    """The cached task's fields that ``update`` changes.

    A status that makes the task schedulable again frees it from its worker.
    """
    sets: dict[str, Any] = {"last_updated": ctx.now(), **extra_set}
    new_status = update.get(wire.TASK_STATUS)
    if new_status:
        sets["status"] = new_status
        if new_status in SCHEDULABLE_TASK_STATUSES and "worker_id" not in extra_set:
            sets["worker_id"] = None
    for key in COPIED_FIELDS:
        if key in update:
            sets[key] = update[key]
    timing = (update.get(wire.METRICS) or {}).get(wire.TIMING)
    if timing:
        sets["metrics"] = {**(task.get("metrics") or {}), "timing": timing}
    return sets


def queue_unknown_task_canceled(ctx: ManagerContext, task_id: ObjectId) -> None:
    """Tell the Server a task it wants cancelled is not here (so it is canceled)."""
    _enqueue(ctx, {"_id": ObjectId(), "task_id": task_id, "queued_at_ns": _next_stamp(),
                   wire.TASK_STATUS: TaskStatus.CANCELED,
                   wire.ACTIVITY: "Manager cancelled task by request of Flamenco Server"})


@on_engine
def pending_batch(ctx: ManagerContext, limit: int) -> list[dict]:
    """The oldest ``limit`` queued updates, in the order they happened (copies)."""
    out: list[dict] = []
    for doc in ctx.state.updates.values():
        if len(out) >= limit:
            break
        out.append(dict(doc))
    return out


def to_wire(doc: dict) -> dict:
    """A queued update as the Server's task-update-batch expects it."""
    out = {k: v for k, v in doc.items() if k not in LOCAL_UPDATE_FIELDS}
    out["_id"] = str(doc["_id"])
    out["task_id"] = str(doc["task_id"])
    out[wire.RECEIVED_ON_MANAGER] = rfc3339_ns(doc["queued_at_ns"])
    if wire.FAILED_BY_WORKERS in out:
        out[wire.FAILED_BY_WORKERS] = [{"id": str(f["id"]), "identifier": f.get("identifier", "")}
                                       for f in out[wire.FAILED_BY_WORKERS]]
    return out


def _take(ctx: ManagerContext, update_id: ObjectId) -> dict | None:
    """Take an update out of the queue (in memory), keeping it retained in the buffer."""
    doc = ctx.state.updates.pop(update_id, None)
    if doc is not None:
        task_id = doc["task_id"]
        ctx.state.pending_per_task[task_id] -= 1
        if ctx.state.pending_per_task[task_id] <= 0:
            del ctx.state.pending_per_task[task_id]
        ctx.state.retained.setdefault(task_id, []).append(doc)
    return doc


def checkpoint(ctx: ManagerContext, task_id: ObjectId) -> None:
    """Write the task's retained updates into its document and delete them from the buffer."""
    retained = ctx.state.retained.pop(task_id, [])
    task = ctx.state.tasks.get(task_id)
    if task is not None and retained:
        sets: dict[str, Any] = {}
        for doc in retained:
            sets.update(doc.get(TASK_SETS) or {})
        tasks.persist(ctx, task, sets)
    for doc in retained:
        ctx.journal.delete(store.UPDATE_QUEUE, doc["_id"])


def _checkpoint_due(ctx: ManagerContext, task_id: ObjectId) -> bool:
    """Nothing left to send for the task, and it finished (or enough updates gathered)."""
    if ctx.state.pending_per_task.get(task_id):
        return False
    task = ctx.state.tasks.get(task_id)
    return (task is None or task.get("status") in FINAL_TASK_STATUSES
            or len(ctx.state.retained.get(task_id, ())) >= RETAIN_MAX)


def _drop(ctx: ManagerContext, update_id: ObjectId) -> dict | None:
    """Take an update out of the queue and checkpoint its task at once (with any retained updates)."""
    doc = _take(ctx, update_id)
    if doc is not None:
        checkpoint(ctx, doc["task_id"])
    return doc


@on_engine
def acknowledge(ctx: ManagerContext, update_ids: Iterable[ObjectId]) -> int:
    """Retire the updates the Server handled (in queue order); checkpoint the tasks that are due."""
    known = sorted((ctx.state.updates[u] for u in set(update_ids) if u in ctx.state.updates),
                   key=lambda d: (d["queued_at_ns"], d["_id"]))  # not the whole queue: it grows in an outage
    taken = [d for d in (_take(ctx, doc["_id"]) for doc in known) if d is not None]
    for task_id in {d["task_id"] for d in taken}:
        if _checkpoint_due(ctx, task_id):
            checkpoint(ctx, task_id)
    return len(taken)


@on_engine
def set_aside_unacknowledged(ctx: ManagerContext, sent: list[dict], handled: set[ObjectId],
                             max_attempts: int) -> int:
    """Count a push against updates the Server did not handle; move the hopeless ones aside.

    The original kept them for ever, starving every later update (reference D.1.3).
    A hopeless update moves to ``task_update_rejects`` in the same flush that
    takes it out of the queue.
    """
    hopeless = []
    for sent_doc in sorted(sent, key=lambda d: d["queued_at_ns"]):
        doc = ctx.state.updates.get(sent_doc["_id"])
        if doc is None or doc["_id"] in handled:
            continue
        doc["push_attempts"] = doc.get("push_attempts", 0) + 1
        if doc["push_attempts"] >= max_attempts:
            hopeless.append(_drop(ctx, doc["_id"]))
        else:
            ctx.journal.set(store.UPDATE_QUEUE, doc["_id"], {"push_attempts": doc["push_attempts"]})
    for doc in hopeless:
        if doc is not None:
            ctx.journal.insert(store.UPDATE_REJECTS, {k: v for k, v in doc.items() if k != TASK_SETS})
    return len(hopeless)


@on_engine
def queue_size(ctx: ManagerContext) -> int:
    return len(ctx.state.updates)


@on_engine
def purge(ctx: ManagerContext) -> int:
    """``purgequeue``: drop every update waiting for the Server (this loses data)."""
    dropped = list(ctx.state.updates)
    for update_id in dropped:
        _drop(ctx, update_id)
    return len(dropped)
