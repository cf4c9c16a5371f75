"""Task status changes by users, requeues and the depsgraph claim (reference §3.7, §14.13)."""
from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, status
from flamenco.store.collections import TASKS
from flamenco.status import Actor
from tests.server.status.conftest import MakeJob, job_status, task_statuses

WORKER = [{"id": "5a0000000000000000000009", "identifier": "render-01"}]


def test_user_cancels_running_task_through_manager(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["active", "queued"], "active")
    change = status.set_task_status(mongo_db, tasks[0], "cancel-requested", actor=Actor.USER)
    assert change.status == "cancel-requested"
    assert job_status(mongo_db, job_id) == "active"   # cancelling one task does not affect the job


def test_user_cancels_queued_task_at_once(mongo_db: Database, make_job: MakeJob) -> None:
    _, tasks = make_job(["queued", "active"], "active")
    change = status.set_task_status(mongo_db, tasks[0], "cancel-requested", actor=Actor.USER)
    assert change.status == "canceled"


def test_user_requeues_completed_task_of_completed_job(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["completed", "completed"], "completed", failed_by_workers=WORKER)
    change = status.set_task_status(mongo_db, tasks[0], "queued", actor=Actor.USER)
    assert change.job_change.status == "queued"
    assert job_status(mongo_db, job_id) == "queued"
    assert "failed_by_workers" not in mongo_db[TASKS].find_one({"_id": tasks[0]})


def test_user_may_not_requeue_active_task(mongo_db: Database, make_job: MakeJob) -> None:
    _, tasks = make_job(["active"], "active")
    with pytest.raises(status.IllegalTransition) as info:
        status.set_task_status(mongo_db, tasks[0], "queued", actor=Actor.USER)
    assert info.value.field == "status"
    assert task_statuses(mongo_db, tasks) == ["active"]


def test_requeue_failed_tasks_in_one_write(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["failed", "failed", "completed", "active"], "active", failed_by_workers=WORKER)
    result = status.requeue_failed_tasks(mongo_db, job_id)
    assert result.tasks_modified == 2
    assert task_statuses(mongo_db, tasks) == ["queued", "queued", "completed", "active"]
    docs = {t["_id"]: t for t in mongo_db[TASKS].find({"job": job_id})}
    assert "failed_by_workers" not in docs[tasks[0]]
    assert docs[tasks[2]]["failed_by_workers"] == WORKER


def test_requeue_failed_tasks_refused_for_failed_job(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["failed"], "failed")
    with pytest.raises(status.IllegalTransition, match="active or queued"):
        status.requeue_failed_tasks(mongo_db, job_id)
    assert task_statuses(mongo_db, tasks) == ["failed"]


def test_requeue_task_with_successors(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["failed", "canceled", "canceled", "active", "completed"], "active",
                             failed_by_workers=WORKER)
    root, child, grandchild, running_child, unrelated = tasks
    parents = {child: [root], grandchild: [child], running_child: [root]}
    for task_id, task_parents in parents.items():
        mongo_db[TASKS].update_one({"_id": task_id}, {"$set": {"parents": task_parents}})
    assert set(status.find_successors(mongo_db, root, job_id)) == {child, grandchild, running_child}

    result = status.requeue_task_with_successors(mongo_db, root)
    assert result.tasks_modified == 3
    assert task_statuses(mongo_db, tasks) == ["queued", "queued", "queued", "active", "completed"]
    requeued = mongo_db[TASKS].find({"_id": {"$in": [root, child, grandchild]}})
    assert all("failed_by_workers" not in task for task in requeued)


def test_requeue_with_successors_refused_for_claimed_root(mongo_db: Database, make_job: MakeJob) -> None:
    _, tasks = make_job(["claimed-by-manager"], "active")
    with pytest.raises(status.IllegalTransition):
        status.requeue_task_with_successors(mongo_db, tasks[0])


def test_successor_walk_survives_cycles(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, (a, b) = make_job(["failed", "failed"], "active")
    mongo_db[TASKS].update_one({"_id": a}, {"$set": {"parents": [b]}})
    mongo_db[TASKS].update_one({"_id": b}, {"$set": {"parents": [a]}})
    assert status.find_successors(mongo_db, a, job_id) == [b]


def test_claim_keeps_updated_and_etag(mongo_db: Database, make_job: MakeJob) -> None:
    manager = ObjectId()
    _, tasks = make_job(["queued", "queued", "active"], "queued", manager=manager,
                        log_file={"backend": "local", "file_path": "x"})
    assert status.mark_tasks_claimed(mongo_db, manager, tasks) == 2
    assert task_statuses(mongo_db, tasks) == ["claimed-by-manager", "claimed-by-manager", "active"]
    claimed = mongo_db[TASKS].find_one({"_id": tasks[0]})
    assert claimed["_etag"] == "old" and "log_file" not in claimed


def test_claim_ignores_other_managers_tasks(mongo_db: Database, make_job: MakeJob) -> None:
    _, tasks = make_job(["queued"], "queued", manager=ObjectId())
    assert status.mark_tasks_claimed(mongo_db, ObjectId(), tasks) == 0
    assert task_statuses(mongo_db, tasks) == ["queued"]


def test_concurrent_change_is_detected(mongo_db: Database, make_job: MakeJob) -> None:
    """A write conditional on the status it was decided from refuses a stale decision."""
    job_id, _ = make_job([], "queued")
    with pytest.raises(status.StatusConflict):
        status._write_job_status(mongo_db, job_id, "active", "completed", clock.utcnow(), "")
    assert job_status(mongo_db, job_id) == "queued"
