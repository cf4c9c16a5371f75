"""Giving a task to a worker and taking it back (reference A.5.2 step 6, A.5.4)."""
from __future__ import annotations

from flamenco_manager import workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_manager.update_queue import queue_update
from flamenco_protocol import wire
from flamenco_protocol.statuses import TaskStatus

# Shown upstream as the worker of a task that has none.
NO_WORKER = "-"


def log_line(ctx: ManagerContext, message: str) -> str:
    """A task log line written by the Manager itself, UTC-stamped like the worker's."""
    return f"{ctx.now().strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}Z: {message}"


def assign(ctx: ManagerContext, worker: dict, task: dict) -> None:
    """Make ``task`` the worker's active task (the queue already gave it up)."""
    ident = workers.identifier(worker)
    message = f"Manager assigned task {task['_id']} to worker {ident}"
    queue_update(ctx, task, {wire.TASK_STATUS: TaskStatus.ACTIVE, wire.WORKER: ident, wire.ACTIVITY: message},
                 log=log_line(ctx, message),
                 extra_set={"worker_id": worker["_id"], "last_worker_ping": ctx.now()})
    workers.change(ctx, worker, {"current_task": task["_id"], "current_job": task.get("job"),
                                 "current_task_status": TaskStatus.ACTIVE, "current_task_updated": ctx.now()},
                   lazy=True)


def return_task(ctx: ManagerContext, worker: dict, task: dict, reason: str) -> bool:
    """Put the worker's active task back in the queue; False when it was not the worker's.

    A cancel-requested task given back by its worker is cancelled at once,
    instead of waiting for the next cancel poll (reference D.1.8).
    """
    if task.get("worker_id") != worker["_id"]:
        return False
    ident = workers.identifier(worker)
    if task.get("status") == TaskStatus.CANCEL_REQUESTED:
        message = f"Task cancelled by request of Flamenco Server, stopped by worker {ident}"
        queue_update(ctx, task, {wire.TASK_STATUS: TaskStatus.CANCELED, wire.ACTIVITY: message},
                     log=log_line(ctx, message))
        return True
    if task.get("status") != TaskStatus.ACTIVE:
        return False
    message = f"Re-queued task after unassigning from worker {ident}: {reason}"
    queue_update(ctx, task, {wire.TASK_STATUS: TaskStatus.CLAIMED_BY_MANAGER, wire.WORKER: NO_WORKER,
                             wire.ACTIVITY: message},
                 log=log_line(ctx, message))
    return True


@on_engine
def return_worker_tasks(ctx: ManagerContext, worker: dict, reason: str) -> int:
    """Return every active task of a worker (sign-off, timeout, removal)."""
    return sum(return_task(ctx, worker, task, reason) for task in ctx.state.running_tasks(worker["_id"]))
