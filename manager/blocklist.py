"""Failure policy: blocklisting workers per (job, task type), soft-fail versus fail.

Reference A.5.6, with two fixes: blocklist entries expire by a periodic delete
(no TTL index needed from the store), and "workers left" counts only workers seen
recently, so a soft-failed task does not wait for machines that are gone (D.1.7).
"""
from __future__ import annotations

import datetime as dt

from bson import ObjectId

from flamenco_manager import store, workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_manager.update_queue import queue_update
from flamenco_protocol import wire
from flamenco_protocol.statuses import TaskStatus

# Task statuses that count as a failure of the worker that ran them.
FAILURE_STATUSES = (TaskStatus.FAILED, TaskStatus.SOFT_FAILED)


def add(ctx: ManagerContext, worker_id: ObjectId, job_id: ObjectId | None, task_type: str) -> bool:
    """Blocklist a worker for (job, task type); False when it already was."""
    key = (worker_id, job_id, task_type)
    if key in ctx.state.blocklist:
        return False
    entry = {"_id": ObjectId(), "_created": ctx.now(), "worker_id": worker_id, "job_id": job_id,
             "task_type": task_type}
    ctx.state.blocklist[key] = entry
    ctx.journal.insert(store.BLACKLIST, dict(entry))
    return True


@on_engine
def forget(ctx: ManagerContext, worker_id: ObjectId, job_id: ObjectId, task_type: str) -> int:
    """Dashboard action: remove one blocklist line."""
    entry = ctx.state.blocklist.pop((worker_id, job_id, task_type), None)
    if entry is None:
        return 0
    ctx.journal.delete(store.BLACKLIST, entry["_id"])
    return 1


@on_engine
def expire(ctx: ManagerContext) -> int:
    """Delete entries older than ``blacklist_max_age``."""
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.config.blacklist_max_age)
    old = [key for key, e in ctx.state.blocklist.items() if e["_created"] < cutoff]
    for key in old:
        ctx.journal.delete(store.BLACKLIST, ctx.state.blocklist.pop(key)["_id"])
    return len(old)


def _failures_on(ctx: ManagerContext, worker_id: ObjectId, job_id: ObjectId | None, task_type: str) -> int:
    return sum(1 for t in ctx.state.tasks.values()
               if t.get("worker_id") == worker_id and t.get("job") == job_id and t.get("task_type") == task_type
               and t.get("status") in FAILURE_STATUSES)


def workers_left(ctx: ManagerContext, job_id: ObjectId | None, task_type: str, exclude: set[ObjectId]) -> int:
    """Workers that could still run (job, task type): support it, not blocklisted, seen recently."""
    since = ctx.now() - dt.timedelta(seconds=ctx.config.worker_seen_max_age_for_failover)
    return sum(1 for w in ctx.state.workers.values()
               if task_type in (w.get("supported_task_types") or ())
               and w.get("last_activity") is not None and w["last_activity"] >= since
               and (w["_id"], job_id, task_type) not in ctx.state.blocklist
               and w["_id"] not in exclude)


def handle_failure(ctx: ManagerContext, worker: dict, task: dict) -> tuple[str, list[dict]]:
    """A worker reports ``failed``: return the status to record and the new failed-by list."""
    wid, job, task_type = worker["_id"], task.get("job"), task.get("task_type", "")
    ident = workers.identifier(worker)
    if _failures_on(ctx, wid, job, task_type) + 1 >= ctx.config.blacklist_threshold:
        add(ctx, wid, job, task_type)
        if workers_left(ctx, job, task_type, exclude={wid}) == 0:
            _hard_fail_soft_failed(ctx, worker, job, task_type, skip=task["_id"])
    failed_by = list(task.get("failed_by_workers") or [])
    if all(f.get("id") != wid for f in failed_by):
        failed_by.append({"id": wid, "identifier": ident})
    if len(failed_by) >= ctx.config.task_fail_after_softfail_count:
        return TaskStatus.FAILED, failed_by
    if workers_left(ctx, job, task_type, exclude={f["id"] for f in failed_by}) > 0:
        return TaskStatus.SOFT_FAILED, failed_by
    return TaskStatus.FAILED, failed_by


def _hard_fail_soft_failed(ctx: ManagerContext, worker: dict, job: ObjectId | None, task_type: str,
                           skip: ObjectId) -> None:
    """Nobody is left to retry them: the worker's soft-failed tasks on (job, type) fail for good."""
    message = f"Manager hard-failed task after blacklisting worker {workers.identifier(worker)}"
    for task in list(ctx.state.tasks.values()):
        if (task["_id"] != skip and task.get("worker_id") == worker["_id"] and task.get("job") == job
                and task.get("task_type") == task_type and task.get("status") == TaskStatus.SOFT_FAILED):
            queue_update(ctx, task, {wire.TASK_STATUS: TaskStatus.FAILED, wire.ACTIVITY: message}, log=message)
