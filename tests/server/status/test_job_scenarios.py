"""Reference §3.8, job transitions: 9 tasks forced to every status, then the job changes status."""
from __future__ import annotations

from pymongo.database import Database

from flamenco import status
from flamenco.store.collections import JOBS, TASKS
from tests.server.status.conftest import SCENARIO_TASK_STATUSES, MakeJob, job_status, task_statuses

REQUEUED_FROM_PAUSED = ["queued", "queued", "completed", "queued", "queued", "queued", "cancel-requested",
                        "queued", "queued"]
AFTER_CANCEL = ["canceled", "cancel-requested", "completed", "cancel-requested", "canceled", "failed",
                "cancel-requested", "paused", "cancel-requested"]


def test_queued_to_active_changes_no_task(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(SCENARIO_TASK_STATUSES, "queued")
    change = status.set_job_status(mongo_db, job_id, "active")
    assert task_statuses(mongo_db, tasks) == list(SCENARIO_TASK_STATUSES)
    assert (change.status, change.tasks_modified) == ("active", 0)


def test_paused_to_requeued_queues_tasks_and_job(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(SCENARIO_TASK_STATUSES, "paused", failed_by_workers=[{"id": "w", "identifier": "w"}])
    change = status.set_job_status(mongo_db, job_id, "requeued", actor=status.Actor.USER, reason="requeue please")
    assert task_statuses(mongo_db, tasks) == REQUEUED_FROM_PAUSED
    assert change.steps == ["requeued", "queued"]
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert job["status"] == "queued"
    assert job["status_reason"] == "requeue please"


def test_active_to_cancel_requested_runs_cancel_step(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(SCENARIO_TASK_STATUSES, "active")
    change = status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    assert task_statuses(mongo_db, tasks) == AFTER_CANCEL
    assert change.status == "cancel-requested"  # tasks still need the Manager's confirmation
    canceled = mongo_db[TASKS].find_one({"_id": tasks[0]})
    assert canceled["activity"] == "Server cancelled this task because the job got status 'cancel-requested'."


def test_canceled_to_queued_changes_no_task(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(SCENARIO_TASK_STATUSES, "canceled")
    change = status.set_job_status(mongo_db, job_id, "queued", actor=status.Actor.USER)
    assert task_statuses(mongo_db, tasks) == list(SCENARIO_TASK_STATUSES)
    assert change.status == "queued"


def test_canceled_to_requeued_clears_failed_by_workers(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(SCENARIO_TASK_STATUSES, "canceled", failed_by_workers=[{"id": "w", "identifier": "w"}])
    status.set_job_status(mongo_db, job_id, "requeued", actor=status.Actor.USER)
    assert task_statuses(mongo_db, tasks) == REQUEUED_FROM_PAUSED
    assert job_status(mongo_db, job_id) == "queued"
    requeued = [t for t in mongo_db[TASKS].find({"job": job_id}) if t["status"] == "queued"]
    assert requeued and all("failed_by_workers" not in task for task in requeued)


def test_completed_to_requeued_queues_completed_tasks_too(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(SCENARIO_TASK_STATUSES, "completed")
    status.set_job_status(mongo_db, job_id, "requeued", actor=status.Actor.USER)
    expected = ["queued"] * 9
    expected[6] = "cancel-requested"
    assert task_statuses(mongo_db, tasks) == expected
    assert job_status(mongo_db, job_id) == "queued"


def test_active_to_failed_runs_cancel_step(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(SCENARIO_TASK_STATUSES, "active")
    change = status.set_job_status(mongo_db, job_id, "failed")
    assert task_statuses(mongo_db, tasks) == AFTER_CANCEL
    assert change.status == "failed"


def test_active_to_completed_changes_no_task(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(SCENARIO_TASK_STATUSES, "active")
    status.set_job_status(mongo_db, job_id, "completed")
    assert task_statuses(mongo_db, tasks) == list(SCENARIO_TASK_STATUSES)
    assert job_status(mongo_db, job_id) == "completed"


def test_cancel_requested_with_nothing_running_cancels_at_once(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["queued", "completed"], "queued")
    change = status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    assert change.steps == ["cancel-requested", "canceled"]
    assert task_statuses(mongo_db, tasks) == ["canceled", "completed"]


def test_fail_requested_with_nothing_running_fails_at_once(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = make_job(["queued", "completed"], "active")
    change = status.set_job_status(mongo_db, job_id, "fail-requested")
    assert change.steps == ["fail-requested", "failed"]


def test_requeue_of_canceled_job_with_all_tasks_completed_completes(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = make_job(["completed", "completed"], "canceled")
    change = status.set_job_status(mongo_db, job_id, "requeued", actor=status.Actor.USER)
    assert change.steps == ["requeued", "queued", "completed"]
    assert job_status(mongo_db, job_id) == "completed"


def test_every_write_stamps_updated_and_etag(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["queued", "completed"], "active")
    status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    job = mongo_db[JOBS].find_one({"_id": job_id})
    canceled = mongo_db[TASKS].find_one({"_id": tasks[0]})
    untouched = mongo_db[TASKS].find_one({"_id": tasks[1]})
    for doc in (job, canceled):
        assert doc["_updated"].tzinfo is not None and doc["_updated"].year > 2000
        assert doc["_etag"] != "old" and int(doc["_etag"], 16) >= 0
    assert untouched["_etag"] == "old"


def test_cancel_keeps_existing_activity(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["active", "active"], "active")
    mongo_db[TASKS].update_one({"_id": tasks[0]}, {"$set": {"activity": "rendering frame 3"}})
    status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    docs = {t["_id"]: t for t in mongo_db[TASKS].find({"job": job_id})}
    assert [docs[t]["status"] for t in tasks] == ["cancel-requested", "cancel-requested"]
    assert docs[tasks[0]]["activity"] == "rendering frame 3"
    assert docs[tasks[1]]["activity"].startswith("Server cancelled this task")


def test_change_tells_when_to_find_changed_tasks(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, tasks = make_job(["queued", "active", "completed"], "active")
    change = status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    changed = {t["_id"] for t in mongo_db[TASKS].find({"job": job_id, "_updated": change.at})}
    assert changed == set(tasks[:2])
