"""Housekeeping: forget old cached tasks and auto-remove old workers (reference A.5.8, A.5.9)."""
from __future__ import annotations

import datetime as dt

from flamenco_manager import assignment
from flamenco_manager import db as dbmod
from flamenco_manager.context import ManagerContext


def remove_old_tasks(ctx: ManagerContext) -> int:
    """Drop cached tasks untouched for ``task_cleanup_max_age``; the Server re-sends changed ones."""
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.config.task_cleanup_max_age)
    query = {"$or": [{"last_worker_ping": {"$lt": cutoff}},
                     {"last_worker_ping": None, "last_updated": {"$lt": cutoff}},
                     {"last_worker_ping": None, "last_updated": None}]}
    return sum(ctx.db[name].delete_many(query).deleted_count for name in (dbmod.TASKS, dbmod.TASKS_DONE))


def remove_old_workers(ctx: ManagerContext) -> int:
    """Remove workers in ``worker_cleanup_status`` not seen for ``worker_cleanup_max_age`` (0 = off)."""
    max_age, eligible = ctx.config.worker_cleanup_max_age, ctx.config.worker_cleanup_status
    if max_age <= 0 or not eligible:
        return 0
    cutoff = ctx.now() - dt.timedelta(seconds=max_age)
    removed = 0
    for worker in ctx.db[dbmod.WORKERS].find({"status": {"$in": eligible}, "last_activity": {"$lt": cutoff}}):
        assignment.return_worker_tasks(ctx, worker, "worker is being auto-removed")
        removed += ctx.db[dbmod.WORKERS].delete_one({"_id": worker["_id"]}).deleted_count
    return removed
