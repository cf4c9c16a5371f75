"""Construction: compile, insert in bulk, flip the job alone; failures and dead runs leave no debris (§3.7, §14.14)."""
from __future__ import annotations

import datetime

import pytest
from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, status
from flamenco.store.collections import JOBS, TASK_LOGS, TASKS
from flamenco.jobs import construction_runs
from tests.server.status.conftest import LONG_AGO, MakeJob, job_status

SLEEP_SETTINGS = {"frames": "1-10", "chunk_size": 3, "time_in_seconds": 1}
# Runs untouched for this long are dead; tests make them LONG_AGO or now.
STALE_AFTER = datetime.timedelta(minutes=10)


def insert_job(db: Database, settings: dict, *, job_status: str = "under-construction", job_type: str = "sleep",
               **fields) -> ObjectId:
    job_id = ObjectId()
    db[JOBS].insert_one({
        "_id": job_id, "name": "sleepy", "job_type": job_type, "status": job_status, "priority": 50,
        "manager": ObjectId(), "project": ObjectId(), "user": ObjectId(), "settings": settings,
        "_created": LONG_AGO, "_updated": LONG_AGO, "_etag": "old", **fields,
    })
    return job_id


def test_construct_queues_all_tasks_then_the_job(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, SLEEP_SETTINGS)
    change = construction_runs.run_construction(mongo_db, job_id, reason="Job submitted by Ada (@ada)")
    tasks = list(mongo_db[TASKS].find({"job": job_id}))
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert change.status == "queued" and job["status"] == "queued"
    assert sorted(task["name"] for task in tasks) == ["sleep-1-3", "sleep-10", "sleep-4-6", "sleep-7-9"]
    assert {task["status"] for task in tasks} == {"queued"}
    assert {task["_updated"] for task in tasks} == {change.at}
    assert job["_updated"] >= change.at
    assert job["status_reason"] == "Job submitted by Ada (@ada)"
    assert construction_runs.CONSTRUCTION_RUN_FIELD not in job and construction_runs.CONSTRUCTION_ATTEMPTS_FIELD not in job


def test_start_paused_job_and_tasks_are_paused(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, SLEEP_SETTINGS, start_paused=True)
    change = construction_runs.run_construction(mongo_db, job_id, reason="submitted")
    assert change.status == "paused"
    assert {t["status"] for t in mongo_db[TASKS].find({"job": job_id})} == {"paused"}


def test_construct_merges_new_settings_from_waiting_for_files(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, {"frames": "1-2", "chunk_size": 1}, job_status="waiting-for-files")
    change = construction_runs.run_construction(mongo_db, job_id, reason="files are in",
                                                new_settings={"time_in_seconds": 2})
    assert change.status == "queued"
    task = mongo_db[TASKS].find_one({"job": job_id, "name": "sleep-1"})
    assert task["commands"][1] == {"name": "sleep", "settings": {"time_in_seconds": 2}}


def test_compile_failure_marks_job_and_leaves_no_tasks(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, {"frames": "1-x", "chunk_size": 1, "time_in_seconds": 1})
    mongo_db[TASKS].insert_one({"job": job_id, "status": "under-construction", "name": "debris"})
    change = construction_runs.run_construction(mongo_db, job_id, reason="submitted")
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert change.status == job["status"] == "construction-failed"
    assert job["status_reason"].startswith("submitted; compilation failed: settings.frames: ")
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 0


def test_recreate_replaces_tasks_and_their_logs(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, SLEEP_SETTINGS)
    construction_runs.run_construction(mongo_db, job_id, reason="submitted")
    old_ids = [t["_id"] for t in mongo_db[TASKS].find({"job": job_id})]
    mongo_db[TASK_LOGS].insert_one({"task": old_ids[0], "log": "old log"})
    status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
    assert job_status(mongo_db, job_id) == "canceled"

    change = construction_runs.recreate_job(mongo_db, job_id, reason="Recreated by Ada")
    new_ids = [t["_id"] for t in mongo_db[TASKS].find({"job": job_id})]
    assert change.status == "queued"
    assert len(new_ids) == 4 and not set(new_ids) & set(old_ids)
    assert mongo_db[TASK_LOGS].count_documents({}) == 0


def test_recreate_refused_while_running(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = make_job(["active"], "active")
    with pytest.raises(status.IllegalTransition, match="can be recreated"):
        construction_runs.recreate_job(mongo_db, job_id, reason="Recreated by Ada")
    assert job_status(mongo_db, job_id) == "active"


@pytest.mark.parametrize("rule", ["recreate", "construct"])
def test_deferred_construction_is_left_for_a_background_run(mongo_db: Database, rule: str) -> None:
    """With ``defer`` the job is left as a POSTed big job is: unclaimed, taskless, resumable at once."""
    job_id = insert_job(mongo_db, SLEEP_SETTINGS, job_status="waiting-for-files")
    if rule == "recreate":
        construction_runs.run_construction(mongo_db, job_id, reason="submitted")
        status.set_job_status(mongo_db, job_id, "cancel-requested", actor=status.Actor.USER)
        old = mongo_db[TASKS].find_one({"job": job_id})
        mongo_db[TASK_LOGS].insert_one({"task": old["_id"], "log": "old log"})
        change = construction_runs.recreate_job(mongo_db, job_id, reason="Recreated by Ada", defer=True)
    else:
        change = construction_runs.run_construction(mongo_db, job_id, reason="files are in", defer=True,
                                                    new_settings={"time_in_seconds": 2})
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert change.status == job["status"] == "under-construction"
    assert construction_runs.CONSTRUCTION_RUN_FIELD not in job and construction_runs.CONSTRUCTION_ATTEMPTS_FIELD not in job
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 0
    assert mongo_db[TASK_LOGS].count_documents({}) == 0

    resumed = construction_runs.resume_construction(mongo_db, job_id, reason="background", stale_after=STALE_AFTER)
    assert resumed is not None and resumed.status == "queued"
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 4


def test_deferred_recreate_refused_while_running(mongo_db: Database, make_job: MakeJob) -> None:
    job_id, _ = make_job(["active"], "active")
    with pytest.raises(status.IllegalTransition, match="can be recreated"):
        construction_runs.recreate_job(mongo_db, job_id, reason="Recreated by Ada", defer=True)
    assert job_status(mongo_db, job_id) == "active"
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 1


def test_construct_refused_for_job_with_tasks(mongo_db: Database, make_job: MakeJob) -> None:
    """Compiling a finished job again would duplicate its tasks: that is what recreate is for."""
    job_id, _ = make_job(["completed"], "completed")
    with pytest.raises(status.IllegalTransition, match="only possible from"):
        construction_runs.run_construction(mongo_db, job_id, reason="again")
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 1


def test_construction_failed_job_can_be_constructed_again(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, {"frames": "1-2", "chunk_size": 1})
    assert construction_runs.run_construction(mongo_db, job_id, reason="submitted").status == "construction-failed"
    change = construction_runs.run_construction(mongo_db, job_id, reason="fixed", new_settings={"time_in_seconds": 1})
    assert change.status == "queued"
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 2


def insert_dead_run(db: Database, *, attempts: int = 1, updated: datetime.datetime = LONG_AGO) -> ObjectId:
    """A job whose construction run died after inserting two tasks (or, recently touched, one still running)."""
    job_id = insert_job(db, SLEEP_SETTINGS, construction_run="dead-run", construction_attempts=attempts)
    db[JOBS].update_one({"_id": job_id}, {"$set": {"_updated": updated}})
    db[TASKS].insert_many([{"job": job_id, "name": "sleep-1-3", "status": "queued", "_created": LONG_AGO},
                                  {"job": job_id, "name": "sleep-4-6", "status": "queued", "_created": LONG_AGO}])
    return job_id


def test_big_job_is_inserted_in_batches(mongo_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(construction_runs, "CONSTRUCTION_BATCH_SIZE", 3)
    job_id = insert_job(mongo_db, {"frames": "1-10", "chunk_size": 1, "time_in_seconds": 1})
    change = construction_runs.run_construction(mongo_db, job_id, reason="submitted")
    assert change.status == "queued" and change.tasks_modified == 10
    names = sorted(t["name"] for t in mongo_db[TASKS].find({"job": job_id}))
    assert names == sorted(f"sleep-{frame}" for frame in range(1, 11))


def test_resume_replaces_the_tasks_of_a_dead_run(mongo_db: Database) -> None:
    job_id = insert_dead_run(mongo_db)
    change = construction_runs.resume_construction(mongo_db, job_id, reason="resumed", stale_after=STALE_AFTER)
    tasks = list(mongo_db[TASKS].find({"job": job_id}))
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert change is not None and change.status == job["status"] == "queued"
    assert sorted(t["name"] for t in tasks) == ["sleep-1-3", "sleep-10", "sleep-4-6", "sleep-7-9"]
    assert {t["_created"] for t in tasks} == {change.at}
    assert construction_runs.CONSTRUCTION_RUN_FIELD not in job and construction_runs.CONSTRUCTION_ATTEMPTS_FIELD not in job


def test_resume_leaves_a_live_run_alone(mongo_db: Database) -> None:
    job_id = insert_dead_run(mongo_db, updated=clock.utcnow())
    assert construction_runs.resume_construction(mongo_db, job_id, reason="resumed", stale_after=STALE_AFTER) is None
    assert job_status(mongo_db, job_id) == "under-construction"
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 2
    with pytest.raises(status.StatusConflict, match="being constructed"):
        construction_runs.run_construction(mongo_db, job_id, reason="again")


def test_resume_is_a_no_op_once_the_job_is_constructed(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, SLEEP_SETTINGS)
    construction_runs.run_construction(mongo_db, job_id, reason="submitted")
    assert construction_runs.resume_construction(mongo_db, job_id, reason="late duplicate", stale_after=STALE_AFTER) is None
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 4


def test_resume_gives_up_after_repeated_dead_runs(mongo_db: Database) -> None:
    job_id = insert_dead_run(mongo_db, attempts=construction_runs.MAX_CONSTRUCTION_ATTEMPTS)
    change = construction_runs.resume_construction(mongo_db, job_id, reason="resumed", stale_after=STALE_AFTER)
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert change is not None and change.status == job["status"] == "construction-failed"
    assert job["status_reason"] == "resumed; gave up after 3 construction attempts died"
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 0


def test_superseded_run_withdraws_its_tasks(mongo_db: Database) -> None:
    """A run deemed dead that wakes up after another run finished the job must not add its tasks."""
    job_id = insert_job(mongo_db, SLEEP_SETTINGS)
    slow_job = mongo_db[JOBS].find_one({"_id": job_id})
    slow_run = construction_runs._claim_construction(mongo_db, slow_job, "submitted", LONG_AGO)
    change = construction_runs.resume_construction(mongo_db, job_id, reason="resumed", stale_after=datetime.timedelta(0))
    assert change is not None and change.status == "queued"
    with pytest.raises(construction_runs.ConstructionSuperseded):
        construction_runs._compile_and_publish(mongo_db, job_id, slow_run, "submitted")
    assert {t["_created"] for t in mongo_db[TASKS].find({"job": job_id})} == {change.at}
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 4


def test_stalled_constructions_are_the_untouched_ones(mongo_db: Database) -> None:
    dead = insert_dead_run(mongo_db)
    insert_dead_run(mongo_db, updated=clock.utcnow())
    never_started = insert_job(mongo_db, SLEEP_SETTINGS)
    insert_job(mongo_db, SLEEP_SETTINGS, job_status="queued")
    assert sorted(construction_runs.stalled_constructions(mongo_db, STALE_AFTER)) == sorted([dead, never_started])
