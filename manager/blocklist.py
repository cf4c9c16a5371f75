"""Failure policy: blocklisting workers per (job, task type), soft-fail versus fail.

Reference A.5.6, with two fixes: blocklist entries expire by a periodic delete
(no TTL index on FerretDB), and "workers left" counts only workers seen
recently, so a soft-failed task does not wait for machines that are gone (D.1.7).
"""
from __future__ import annotations

import datetime as dt

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from flamenco_manager import db as dbmod
from flamenco_manager import statuses, workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.update_queue import queue_update

# Task statuses that count as a failure of the worker that ran them.
FAILURE_STATUSES = (statuses.FAILED, statuses.SOFT_FAILED)


def blocked_types_by_job(ctx: ManagerContext, worker_id: ObjectId) -> dict[ObjectId, list[str]]:
    """For one worker: job -> task types it may not run for that job."""
    out: dict[ObjectId, list[str]] = {}
    for entry in ctx.db[dbmod.BLACKLIST].find({"worker_id": worker_id}):
        out.setdefault(entry["job_id"], []).append(entry["task_type"])
    return out


def scheduler_filter(blocked: dict[ObjectId, list[str]]) -> dict:
    """A query clause excluding the blocked (job, task type) pairs."""
    if not blocked:
        return {}
    return {"$nor": [{"job": job, "task_type": {"$in": types}} for job, types in blocked.items()]}


def add(ctx: ManagerContext, worker_id: ObjectId, job_id: ObjectId, task_type: str) -> bool:
    """Blocklist a worker for (job, task type); False when it already was."""
    try:
        ctx.db[dbmod.BLACKLIST].insert_one({"_created": ctx.now(), "worker_id": worker_id,
                                            "job_id": job_id, "task_type": task_type})
    except DuplicateKeyError:
        return False
    return True


def forget(ctx: ManagerContext, worker_id: ObjectId, job_id: ObjectId, task_type: str) -> int:
    """Dashboard action: remove one blocklist line."""
    return ctx.db[dbmod.BLACKLIST].delete_many(
        {"worker_id": worker_id, "job_id": job_id, "task_type": task_type}).deleted_count


def expire(ctx: ManagerContext) -> int:
    """Delete entries older than ``blacklist_max_age``."""
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.config.blacklist_max_age)
    return ctx.db[dbmod.BLACKLIST].delete_many({"_created": {"$lt": cutoff}}).deleted_count


def _failures_on(ctx: ManagerContext, worker_id: ObjectId, job_id, task_type: str) -> int:
    query = {"worker_id": worker_id, "job": job_id, "task_type": task_type,
             "status": {"$in": list(FAILURE_STATUSES)}}
    return ctx.db[dbmod.TASKS].count_documents(query) + ctx.db[dbmod.TASKS_DONE].count_documents(query)


def workers_left(ctx: ManagerContext, job_id, task_type: str, exclude: set[ObjectId]) -> int:
    """Workers that could still run (job, task type): support it, not blocklisted, seen recently."""
    blocked = {e["worker_id"] for e in ctx.db[dbmod.BLACKLIST].find({"job_id": job_id, "task_type": task_type})}
    since = ctx.now() - dt.timedelta(seconds=ctx.config.worker_seen_max_age_for_failover)
    candidates = ctx.db[dbmod.WORKERS].find(
        {"supported_task_types": task_type, "last_activity": {"$gte": since}}, {"_id": 1})
    return sum(1 for w in candidates if w["_id"] not in blocked and w["_id"] not in exclude)


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
        return statuses.FAILED, failed_by
    if workers_left(ctx, job, task_type, exclude={f["id"] for f in failed_by}) > 0:
        return statuses.SOFT_FAILED, failed_by
    return statuses.FAILED, failed_by


def _hard_fail_soft_failed(ctx: ManagerContext, worker: dict, job, task_type: str, skip: ObjectId) -> None:
    """Nobody is left to retry them: the worker's soft-failed tasks on (job, type) fail for good."""
    message = f"Manager hard-failed task after blacklisting worker {workers.identifier(worker)}"
    for task in ctx.db[dbmod.TASKS].find({"worker_id": worker["_id"], "job": job, "task_type": task_type,
                                          "status": statuses.SOFT_FAILED}):
        if task["_id"] != skip:
            queue_update(ctx, task, {"task_status": statuses.FAILED, "activity": message}, log=message)
