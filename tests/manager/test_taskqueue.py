"""The claim queue on its own: preference order, per-type heaps, parents, tasks a worker may not run."""
from __future__ import annotations

from bson import ObjectId

from flamenco_manager.taskqueue import TaskQueue


def task(task_type: str = "sleep", job_priority: int = 50, priority: int = 50, parents=()) -> dict:
    return {"_id": ObjectId(), "task_type": task_type, "job_priority": job_priority, "priority": priority,
            "parents": list(parents)}


def test_pops_by_job_priority_then_task_priority_then_age():
    queue = TaskQueue()
    old_low, new_high, high_job, old_mid, new_mid = (task(priority=10), task(priority=90), task(job_priority=99),
                                                     task(), task())
    for t in (new_mid, old_low, high_job, new_high, old_mid):
        queue.add(t)
    order = [queue.pop_best(["sleep"], lambda _id: True) for _ in range(5)]
    assert order == [t["_id"] for t in (high_job, new_high, old_mid, new_mid, old_low)]
    assert queue.pop_best(["sleep"], lambda _id: True) is None


def test_only_the_workers_types_and_best_across_types():
    queue = TaskQueue()
    render, sleep, other = task("blender-render", priority=10), task("sleep", priority=20), task("exec", priority=99)
    for t in (render, sleep, other):
        queue.add(t)
    assert queue.pop_best(["blender-render", "sleep"], lambda _id: True) == sleep["_id"]
    assert queue.pop_best(["blender-render", "sleep"], lambda _id: True) == render["_id"]
    assert queue.pop_best(["blender-render", "sleep"], lambda _id: True) is None
    assert len(queue) == 1


def test_tasks_a_worker_may_not_run_are_skipped_and_kept_for_others():
    queue = TaskQueue()
    blocked, free = task(priority=90), task(priority=10)
    queue.add(blocked)
    queue.add(free)
    assert queue.pop_best(["sleep"], lambda tid: tid != blocked["_id"]) == free["_id"]
    assert queue.pop_best(["sleep"], lambda _id: True) == blocked["_id"], "set aside, not lost"


def test_discarded_and_rekeyed_tasks():
    queue = TaskQueue()
    first, second = task(priority=90), task(priority=10)
    queue.add(first)
    queue.add(second)
    queue.discard(first["_id"])
    second["priority"] = 5
    queue.add(second)  # re-keyed: one entry, the new priority
    assert len(queue) == 1
    assert queue.pop_best(["sleep"], lambda _id: True) == second["_id"]
    assert queue.pop_best(["sleep"], lambda _id: True) is None


def test_children_wait_for_every_parent():
    queue = TaskQueue()
    parent_a, parent_b = task(), task()
    child = task(priority=99, parents=[parent_a["_id"], parent_b["_id"]])
    tasks = {t["_id"]: t for t in (parent_a, parent_b, child)}
    queue.add(child, unfinished_parents=[parent_a["_id"], parent_b["_id"]])
    assert child["_id"] in queue
    assert queue.pop_best(["sleep"], lambda _id: True) is None, "a waiting child is not claimable"
    queue.parent_completed(parent_a["_id"], tasks)
    assert queue.pop_best(["sleep"], lambda _id: True) is None
    queue.parent_completed(parent_b["_id"], tasks)
    assert queue.pop_best(["sleep"], lambda _id: True) == child["_id"]
