"""Reference §3.8, task-update batches: Manager-reported statuses and their effect on the job."""
from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from flamenco import status
from flamenco.store.collections import JOBS, TASKS
from flamenco.status import Actor
from tests.server.status.conftest import MakeJob, job_status, task_statuses


def report(db: Database, task_id: ObjectId, reported: str) -> status.TaskStatusChange | None:
    """What the Manager API does per update: filter the status, then apply it."""
    current = db[TASKS].find_one({"_id": task_id})["status"]
    new = status.determine_new_task_status(current, reported)
    if new is None:
        return None
    return status.set_task_status(db, task_id, new, actor=Actor.MANAGER, extra_fields={"activity": reported})


def test_completing_all_tasks_completes_the_job(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["claimed-by-manager"] * 4, "queued")
    for task_id in tasks[:3]:
        report(mongo_db, task_id, "completed")
    assert job_status(mongo_db, job_id) == "active"
    change = report(mongo_db, tasks[3], "completed")
    assert change.job_change.status == "completed"
    assert job_status(mongo_db, job_id) == "completed"


def test_a_finished_job_does_not_keep_the_reason_of_its_submission(mongo_db: Database, make_job: MakeJob) -> None:
    """The reason explains the current status (issue 14: a completed job said "Job submitted by ...")."""
    job_id, tasks = make_job(["claimed-by-manager"] * 2, "queued")
    mongo_db[JOBS].update_one({"_id": job_id}, {"$set": {"status_reason": "Job submitted by Ada (@ada)"}})
    report(mongo_db, tasks[0], "active")
    assert "status_reason" not in mongo_db[JOBS].find_one({"_id": job_id})
    for task_id in tasks:
        report(mongo_db, task_id, "completed")
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert (job["status"], job["status_reason"]) == ("completed", "All 2 tasks completed")


def test_a_follow_up_step_keeps_the_reason_of_the_change_that_caused_it(mongo_db: Database,
                                                                         make_job: MakeJob) -> None:
    job_id, _tasks = make_job(["completed"] * 2, "completed")
    status.set_job_status(mongo_db, job_id, "requeued", actor=Actor.USER, reason="Requeued by Ada")
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert (job["status"], job["status_reason"]) == ("queued", "Requeued by Ada")


def test_one_failed_of_four_fails_job_and_cancels_the_rest(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["claimed-by-manager"] * 4, "active")
    change = report(mongo_db, tasks[0], "failed")
    assert change.job_change.status == "failed"
    assert task_statuses(mongo_db, tasks) == ["failed"] + ["cancel-requested"] * 3
    cancel_ids = {t["_id"] for t in mongo_db[TASKS].find({"status": "cancel-requested"})}
    assert cancel_ids == set(tasks[1:])


def test_soft_failures_keep_job_active_until_a_real_failure(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["claimed-by-manager"] * 4, "queued")
    report(mongo_db, tasks[0], "soft-failed")
    report(mongo_db, tasks[1], "soft-failed")
    assert job_status(mongo_db, job_id) == "active"
    report(mongo_db, tasks[0], "failed")
    assert job_status(mongo_db, job_id) == "failed"


def test_ten_percent_failures_fail_a_hundred_task_job(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["failed"] * 8 + ["active"] * 92, "active")
    report(mongo_db, tasks[8], "failed")
    assert job_status(mongo_db, job_id) == "active"   # 9 % of the tasks failed
    report(mongo_db, tasks[9], "failed")
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert job["status"] == "failed"
    assert job["status_reason"] == f"Failing job {job_id} because 10 of its 100 tasks (10%) failed"


def test_fail_requested_job_waits_for_cancellations(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["claimed-by-manager", "claimed-by-manager", "completed"], "active")
    status.set_job_status(mongo_db, job_id, "fail-requested")
    assert task_statuses(mongo_db, tasks) == ["cancel-requested", "cancel-requested", "completed"]
    assert report(mongo_db, tasks[0], "active") is None   # refused: only canceled/failed/completed
    assert job_status(mongo_db, job_id) == "fail-requested"
    report(mongo_db, tasks[0], "canceled")
    assert job_status(mongo_db, job_id) == "fail-requested"
    report(mongo_db, tasks[1], "canceled")
    assert job_status(mongo_db, job_id) == "failed"


def test_tasks_returned_to_manager_requeue_the_job(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["active", "active"], "active")
    report(mongo_db, tasks[0], "claimed-by-manager")
    assert job_status(mongo_db, job_id) == "active"
    report(mongo_db, tasks[1], "claimed-by-manager")
    assert job_status(mongo_db, job_id) == "queued"


def test_update_for_task_of_archived_job_leaves_job_archived(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["active"], "archived")
    report(mongo_db, tasks[0], "completed")
    assert job_status(mongo_db, job_id) == "archived"


def test_update_for_deleted_task_is_not_found(mongo_db: Database) -> None:
    """Archival deletes tasks; the Manager API acknowledges such updates (this is its signal)."""
    missing = ObjectId()
    try:
        status.set_task_status(mongo_db, missing, "completed", actor=Actor.MANAGER)
    except status.NotFound as ex:
        assert str(missing) in str(ex)
    else:
        raise AssertionError("a missing task must raise NotFound")


def test_manager_status_write_uses_server_clock(mongo_db: Database, make_job: MakeJob) -> None:
    _, tasks = make_job(["claimed-by-manager"], "queued")
    change = report(mongo_db, tasks[0], "active")
    task = mongo_db[TASKS].find_one({"_id": tasks[0]})
    assert change.status == "active"
    assert task["activity"] == "active"
    assert task["_updated"].year > 2000 and task["_etag"] != "old"
