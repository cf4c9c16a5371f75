"""Housekeeping: forget old cached tasks and auto-remove old workers (reference A.5.8, A.5.9)."""
from __future__ import annotations

import datetime as dt

from flamenco_manager import assignment, tasks, workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_protocol.statuses import RUNNING_TASK_STATUSES


@on_engine
def remove_old_tasks(ctx: ManagerContext) -> int:
    """Drop cached tasks untouched for ``task_cleanup_max_age``; the Server re-sends changed ones.

    A task a worker runs, or with updates still waiting to go up, stays.
    """
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.config.task_cleanup_max_age)
    old = [t for t in ctx.state.tasks.values()
           if (t.get("last_worker_ping") or t.get("last_updated") or cutoff) <= cutoff
           and t.get("status") not in RUNNING_TASK_STATUSES and not ctx.state.pending_per_task.get(t["_id"])]
    for task in old:
        tasks.forget(ctx, task)
    return len(old)


@on_engine
def remove_old_workers(ctx: ManagerContext) -> int:
    """Remove workers in ``worker_cleanup_status`` not seen for ``worker_cleanup_max_age`` (0 = off)."""
    max_age, eligible = ctx.config.worker_cleanup_max_age, ctx.config.worker_cleanup_status
    if max_age <= 0 or not eligible:
        return 0
    cutoff = ctx.now() - dt.timedelta(seconds=max_age)
    removed = 0
    for worker in list(ctx.state.workers.values()):
        seen = worker.get("last_activity")
        if worker.get("status") in eligible and seen is not None and seen < cutoff:
            assignment.return_worker_tasks(ctx, worker, "worker is being auto-removed")
            removed += workers.forget(ctx, worker["_id"])
    return removed
