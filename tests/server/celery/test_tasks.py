"""The Celery task wrappers, run in-process (eagerly) against this test's database."""
from __future__ import annotations

import datetime

import pytest

import flamenco.celery as flamenco_celery
from flamenco import clock, status
from flamenco.celery import db as celery_db
from tests.support.server import make_job
from tests.support.task_counts import force_tasks

JOBS = "flamenco_jobs"
TASKS = "flamenco_tasks"


@pytest.fixture
def eager(monkeypatch, mongo_uri, redis_url, storage_root):
    """Point the worker-side config at this test's services and run sub-tasks in-process."""
    monkeypatch.setenv("MONGO_URI", mongo_uri)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("FLAMENCO_STORAGE_DIR", str(storage_root))
    celery_db.config.cache_clear()
    monkeypatch.setitem(flamenco_celery.app.conf, "task_always_eager", True)
    yield
    celery_db.config.cache_clear()


def test_runnability_checks_are_scheduled_per_active_job(eager, mongo_db, farm):
    job = make_job(mongo_db, farm["project"], farm["manager"], farm["user"],
                   settings={"frames": "1-20", "chunk_size": 1, "time_in_seconds": 1})
    tasks = list(mongo_db[TASKS].find({"job": job["_id"]}).sort("name", 1))
    force_tasks(mongo_db, {"_id": tasks[0]["_id"]}, {"status": "canceled"})
    mongo_db[TASKS].update_one({"_id": tasks[1]["_id"]}, {"$set": {"parents": [tasks[0]["_id"]]}})
    status.set_job_status(mongo_db, job["_id"], "active")
    assert flamenco_celery.schedule_runnability_checks() == [str(job["_id"])]
    assert mongo_db[JOBS].find_one({"_id": job["_id"]})["status"] in ("fail-requested", "failed")
    assert flamenco_celery.runnability_check("not-an-id") is None


def test_resume_archiving_archives_stuck_jobs(eager, mongo_db, completed_job, storage_root):
    mongo_db[JOBS].update_one({"_id": completed_job["_id"]}, {"$set": {
        "status": "archiving", "pre_archive_status": "completed",
        "_updated": clock.utcnow() - datetime.timedelta(days=2)}})
    assert flamenco_celery.resume_job_archiving() == [str(completed_job["_id"])]
    job = mongo_db[JOBS].find_one({"_id": completed_job["_id"]})
    assert job["status"] == "archived"
    assert (storage_root / job["archive_blob_name"]).is_file()
    assert flamenco_celery.archive_job("not-an-id") is None


def test_cleanup_wrappers(eager, mongo_db, farm):
    old = clock.utcnow() - datetime.timedelta(days=3)
    mongo_db[JOBS].insert_one({"name": "w", "status": "waiting-for-files", "_updated": old,
                               "project": farm["project"]["_id"]})
    assert flamenco_celery.remove_waiting_for_files() == 1
    assert flamenco_celery.remove_orphan_task_logs() == 0
    assert flamenco_celery.remove_expired_linking_keys() == 0
