"""Runnability check and the cleanup jobs, called directly on a real database."""
from __future__ import annotations

import datetime
import gzip

from bson import ObjectId

from flamenco import clock, status
from flamenco.celery import cleanup, runnability
from flamenco.manager_api import storage
from flamenco.store.collections import MANAGER_LINKING_KEYS
from tests.support.server import make_job
from tests.support.task_counts import force_tasks

JOBS = "flamenco_jobs"
TASKS = "flamenco_tasks"


def test_job_with_tasks_blocked_by_a_failed_parent_is_fail_requested(mongo_db, farm):
    job = make_job(mongo_db, farm["project"], farm["manager"], farm["user"],
                   settings={"frames": "1-20", "chunk_size": 1, "time_in_seconds": 1})
    tasks = list(mongo_db[TASKS].find({"job": job["_id"]}).sort("name", 1))
    force_tasks(mongo_db, {"_id": tasks[0]["_id"]}, {"status": "failed"})
    mongo_db[TASKS].update_one({"_id": tasks[1]["_id"]}, {"$set": {"parents": [tasks[0]["_id"]]}})
    mongo_db[TASKS].update_one({"_id": tasks[2]["_id"]}, {"$set": {"parents": [tasks[1]["_id"]]}})
    status.set_job_status(mongo_db, job["_id"], "active")
    assert runnability.active_job_ids(mongo_db) == [job["_id"]]
    assert runnability.count_blocked_tasks(mongo_db, job["_id"]) == 1
    change = runnability.check_job_runnability(mongo_db, job["_id"])
    assert change is not None and change.steps[0] == "fail-requested"
    doc = mongo_db[JOBS].find_one({"_id": job["_id"]})
    assert doc["status"] in ("fail-requested", "failed")
    assert doc["status_reason"] == "1 tasks have a failed/cancelled parent and will not be able to run."


def test_runnable_job_is_left_alone(mongo_db, farm):
    job = make_job(mongo_db, farm["project"], farm["manager"], farm["user"])
    tasks = list(mongo_db[TASKS].find({"job": job["_id"]}).sort("name", 1))
    mongo_db[TASKS].update_one({"_id": tasks[1]["_id"]}, {"$set": {"parents": [tasks[0]["_id"]]}})
    status.set_job_status(mongo_db, job["_id"], "active")
    assert runnability.check_job_runnability(mongo_db, job["_id"]) is None
    assert mongo_db[JOBS].find_one({"_id": job["_id"]})["status"] == "active"


def test_old_waiting_for_files_jobs_are_removed(mongo_db, farm):
    now = clock.utcnow()
    base = {"name": "j", "job_type": "sleep", "project": farm["project"]["_id"], "status": "waiting-for-files"}
    old = mongo_db[JOBS].insert_one({**base, "_updated": now - datetime.timedelta(hours=25)}).inserted_id
    fresh = mongo_db[JOBS].insert_one({**base, "_updated": now - datetime.timedelta(hours=1)}).inserted_id
    other = mongo_db[JOBS].insert_one({**base, "status": "queued",
                                       "_updated": now - datetime.timedelta(days=9)}).inserted_id
    assert cleanup.remove_waiting_for_files(mongo_db, datetime.timedelta(hours=24), now=now) == 1
    remaining = {j["_id"] for j in mongo_db[JOBS].find({}, projection=["_id"])}
    assert old not in remaining and {fresh, other} <= remaining


def test_orphan_task_logs_and_files_are_removed(mongo_db, farm, storage_root):
    job = make_job(mongo_db, farm["project"], farm["manager"], farm["user"])
    alive = mongo_db[TASKS].find_one({"job": job["_id"]})["_id"]
    gone = ObjectId()
    now = clock.utcnow()
    mongo_db["flamenco_task_logs"].insert_many([
        {"task": alive, "received_on_manager": now, "log": "keep"},
        {"task": gone, "received_on_manager": now, "log": "drop"},
        {"task": gone, "received_on_manager": now, "log": "drop too"},
    ])
    for task_id in (alive, gone):
        path = storage_root / storage.task_log_relpath(job["_id"], task_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(b"log"))
    orphan_dir = storage_root / storage.task_log_relpath(ObjectId(), ObjectId())
    orphan_dir.parent.mkdir(parents=True)
    orphan_dir.write_bytes(gzip.compress(b"log"))
    assert cleanup.remove_orphan_task_logs(mongo_db, storage_root) == 4
    assert [d["log"] for d in mongo_db["flamenco_task_logs"].find()] == ["keep"]
    assert (storage_root / storage.task_log_relpath(job["_id"], alive)).is_file()
    assert not (storage_root / storage.task_log_relpath(job["_id"], gone)).exists()
    assert not orphan_dir.parent.exists()


def test_expired_linking_keys_are_removed(mongo_db):
    now = clock.utcnow()
    mongo_db[MANAGER_LINKING_KEYS].insert_many([
        {"secret_key": b"a" * 32, "remove_after": now - datetime.timedelta(seconds=1)},
        {"secret_key": b"b" * 32, "remove_after": now + datetime.timedelta(minutes=10)},
    ])
    assert cleanup.remove_expired_linking_keys(mongo_db, now=now) == 1
    assert [bytes(k["secret_key"]) for k in mongo_db[MANAGER_LINKING_KEYS].find()] == [b"b" * 32]
