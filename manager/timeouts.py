"""Task and worker timeouts (reference A.5.7), run by the sync daemon.

A worker not heard from for ``active_worker_timeout_interval`` goes to
``timeout`` and its tasks are re-queued; a task not pinged for
``active_task_timeout_interval`` fails. Fixes (reference D.1.11): the timed
out task gets one ``failed`` update (not re-queued first), its log line goes
to its log file, and a worker is put in ``timeout`` only if it was awake.
A ``cancel-requested`` task whose worker went silent is cancelled.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from bson import ObjectId

from flamenco_manager import assignment, workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_manager.update_queue import queue_update
from flamenco_protocol import wire
from flamenco_protocol.statuses import TaskStatus, WorkerStatus


def _older_than(moment: dt.datetime | None, cutoff: dt.datetime) -> bool:
    return moment is None or moment < cutoff


def timeout_worker(ctx: ManagerContext, worker: dict, reason: str, keep: ObjectId | None = None) -> None:
    """Put an awake worker in ``timeout`` (asking it to return to its status) and re-queue its tasks."""
    if worker.get("status") == WorkerStatus.AWAKE:
        sets: dict[str, Any] = {"status": WorkerStatus.TIMEOUT}
        if not worker.get("status_requested"):
            sets |= {"status_requested": worker["status"], "lazy_status_request": False}
        workers.change(ctx, worker, sets)
    for task in ctx.state.running_tasks(worker["_id"]):
        if task["_id"] != keep and task.get("status") == TaskStatus.ACTIVE:
            assignment.return_task(ctx, worker, task, reason)


@on_engine
def check_worker_timeouts(ctx: ManagerContext) -> int:
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.config.active_worker_timeout_interval)
    timed_out = [w for w in ctx.state.workers.values()
                 if w.get("status") == WorkerStatus.AWAKE and _older_than(w.get("last_activity"), cutoff)]
    for worker in timed_out:
        timeout_worker(ctx, worker, f"worker {workers.identifier(worker)} timed out")
    return len(timed_out)


@on_engine
def check_task_timeouts(ctx: ManagerContext) -> int:
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.config.active_task_timeout_interval)
    stale = [ctx.state.tasks[t] for ids in list(ctx.state.running.values()) for t in ids
             if t in ctx.state.tasks and _older_than(ctx.state.tasks[t].get("last_worker_ping"), cutoff)]
    for task in stale:
        worker = ctx.state.workers.get(task["worker_id"]) if task.get("worker_id") else None
        ident = workers.identifier(worker) if worker else "unknown worker"
        if task["status"] == TaskStatus.CANCEL_REQUESTED:
            message = f"Task cancelled; worker {ident} stopped responding"
            queue_update(ctx, task, {wire.TASK_STATUS: TaskStatus.CANCELED, wire.ACTIVITY: message},
                         log=assignment.log_line(ctx, message))
            continue
        if worker is not None:
            timeout_worker(ctx, worker, f"task {task['_id']} timed out", keep=task["_id"])
        message = f"Task timed out on worker {ident}"
        queue_update(ctx, task, {wire.TASK_STATUS: TaskStatus.FAILED, wire.ACTIVITY: message},
                     log=assignment.log_line(ctx, message))
    return len(stale)
