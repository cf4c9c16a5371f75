"""Fixtures for the background-job tests: storage dir and a finished job with logs."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from flamenco import clock, status
from flamenco.manager_api import storage
from tests.support.server import make_job, make_manager, make_project, make_user
from tests.support.task_counts import force_tasks


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    root.mkdir()
    return root


@pytest.fixture
def farm(mongo_db):
    """A user, a project and a Manager to hang jobs on."""
    user = make_user(mongo_db, "carol")
    project = make_project(mongo_db, "Shots", members=[(user, "admin")])
    manager, token = make_manager(mongo_db, projects=[project], owner=user)
    return {"user": user, "project": project, "manager": manager, "token": token}


def finish_job(db, job: dict, task_status: str = "completed") -> None:
    """Mark every task ``task_status`` and let the job follow."""
    force_tasks(db, {"job": job["_id"]}, {"status": task_status})
    status.update_job_after_task_status_change(db, job["_id"], "active")
    status.update_job_after_task_status_change(db, job["_id"], task_status)


@pytest.fixture
def completed_job(mongo_db, farm, storage_root) -> dict:
    """A completed 3-task job: the first task has two log chunks and an uploaded log file."""
    job = make_job(mongo_db, farm["project"], farm["manager"], farm["user"])
    finish_job(mongo_db, job)
    assert mongo_db["flamenco_jobs"].find_one({"_id": job["_id"]})["status"] == "completed"
    task = mongo_db["flamenco_tasks"].find_one({"job": job["_id"]}, sort=[("name", 1)])
    mongo_db["flamenco_task_logs"].insert_many([
        {"task": task["_id"], "received_on_manager": clock.utcnow(), "log": "second chunk"},
        {"task": task["_id"], "received_on_manager": clock.utcnow().replace(year=2020), "log": "first chunk\n"},
    ])
    relpath = storage.task_log_relpath(job["_id"], task["_id"])
    (storage_root / relpath).parent.mkdir(parents=True)
    (storage_root / relpath).write_bytes(gzip.compress(b"uploaded full log"))
    mongo_db["flamenco_tasks"].update_one({"_id": task["_id"]},
                                          {"$set": {"log_file": {"backend": "local", "file_path": relpath}}})
    return mongo_db["flamenco_jobs"].find_one({"_id": job["_id"]})
