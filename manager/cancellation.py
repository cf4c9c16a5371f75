"""Cancellations asked for by the Server (``cancel_task_ids`` in a push reply).

An active task becomes ``cancel-requested`` locally; its worker learns it from
``/may-i-run`` and gives the task back, which cancels it (``assignment``).
A task nobody runs is cancelled at once. Unlike the original (reference
D.1.8), a running task is not reported ``canceled`` before its worker stopped.
"""
from __future__ import annotations

from flamenco_manager import tasks
from flamenco_manager.assignment import log_line
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_manager.update_queue import queue_unknown_task_canceled, queue_update
from flamenco_protocol import wire
from flamenco_protocol.statuses import SCHEDULABLE_TASK_STATUSES, TaskStatus

CANCEL_MESSAGE = "Manager cancelled task by request of Flamenco Server"


@on_engine
def handle_cancel_requests(ctx: ManagerContext, task_ids: list[str]) -> int:
    """Act on the Server's list; return how many tasks changed here."""
    changed = 0
    for raw in task_ids:
        task_id = tasks.parse_id(raw)
        if task_id is None:
            continue
        task = ctx.state.tasks.get(task_id)
        if task is None:
            queue_unknown_task_canceled(ctx, task_id)
            changed += 1
        elif task.get("status") == TaskStatus.ACTIVE:
            tasks.change(ctx, task, {"status": TaskStatus.CANCEL_REQUESTED})
            changed += 1
        elif task.get("status") in SCHEDULABLE_TASK_STATUSES:
            queue_update(ctx, task, {wire.TASK_STATUS: TaskStatus.CANCELED, wire.ACTIVITY: CANCEL_MESSAGE},
                         log=log_line(ctx, CANCEL_MESSAGE))
            changed += 1
    return changed
