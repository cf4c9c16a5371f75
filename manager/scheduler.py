"""Choosing a task for a worker (reference A.5.2, A.5.3): a pop from memory.

The claim queue (``taskqueue.TaskQueue``) holds the schedulable tasks in
preference order; a claim pops the best one this worker may run and assigns
it, all in the event loop that owns dispatch: no store round trip, no race
between claimers, no call to the Server. The assignment reaches the buffer
with the next group commit, before the worker hears of it.

Flamenco 2 re-checked every task with the Server before handing it out (a
blocking GET per claim). Here the Server's changes arrive in the background
instead: cancellations with every push answer (``cancel_task_ids``, polled
at least every ``cancel_task_fetch_max_interval``) and changed tasks with the
incremental depsgraph. A task cancelled on the Server can therefore still be
handed out during that interval; its worker then learns of the cancellation
at its next ``may-i-run`` (see README, "Cancellation window").

A task of a job with requirements goes only to a worker that meets them
(``flamenco_protocol.requirements``; the Server copies the job's requirements
into each task it sends).
"""
from __future__ import annotations

from flamenco_manager import assignment, workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.taskqueue import Meets
from flamenco_protocol import requirements
from flamenco_protocol.statuses import TaskStatus


class NoTaskTypes(Exception):
    """The worker supports no task types at all (answered with 406)."""


def claim_next_task(ctx: ManagerContext, worker: dict) -> dict | None:
    """The task this worker should run now, already assigned to it; None if there is none.

    A worker that already has an active task gets it back (it crashed or lost
    the reply), so a task is never orphaned by a lost response.
    """
    task_types = worker.get("supported_task_types") or []
    if not task_types:
        raise NoTaskTypes()
    for task in ctx.state.running_tasks(worker["_id"]):
        if task.get("status") == TaskStatus.ACTIVE:
            return task
    task_id = ctx.state.queue.pop_best(task_types, lambda tid: _may_run(ctx, worker, ctx.state.tasks[tid]),
                                       meets=_meets(worker))
    if task_id is None:
        return None
    task = ctx.state.tasks[task_id]
    assignment.assign(ctx, worker, task)
    return task


def _meets(worker: dict) -> Meets:
    """Whether this worker has what a job requires (issue 15): its effective tags, its detected resources."""
    tags, resources = workers.effective_tags(worker), worker.get("resources")
    return lambda required: requirements.satisfies(required, tags, resources)


def _may_run(ctx: ManagerContext, worker: dict, task: dict) -> bool:
    """Not blocklisted for (job, task type), not failed by this worker before."""
    if (worker["_id"], task.get("job"), task.get("task_type")) in ctx.state.blocklist:
        return False
    return not any(f.get("id") == worker["_id"] for f in task.get("failed_by_workers") or ())
