"""A real Celery worker process on the test Redis executes tasks sent through the broker,
including the archival the server enqueues for PATCH archive-job."""
from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import celery
import pytest

import flamenco.celery as flamenco_celery
from flamenco import clock
from flamenco.app import create_app
from flamenco.store.collections import MANAGER_LINKING_KEYS
from tests.support.server import REPO_ROOT, make_token
from flamenco.farm.supervisor import stop_process

# A cold worker imports Celery, Flask and Eve in a few seconds; allow a busy CI machine more.
WORKER_TASK_TIMEOUT = 60.0


@pytest.fixture
def celery_worker(mongo_uri: str, redis_url: str, storage_root: Path, tmp_path: Path) -> Iterator[Path]:
    """``celery -A flamenco.celery worker`` as a child process; yields its log file."""
    env = dict(os.environ, MONGO_URI=mongo_uri, REDIS_URL=redis_url, FLAMENCO_STORAGE_DIR=str(storage_root),
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log_path = tmp_path / "celery-worker.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "flamenco.celery", "worker",
                                 "--pool=solo", "--concurrency=1", "--loglevel=INFO", "--without-mingle",
                                 "--without-gossip", "--without-heartbeat"],
                                cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield log_path
        finally:
            stop_process(proc, grace=15)


def test_task_runs_through_the_broker(mongo_db, redis_url, celery_worker):
    now = clock.utcnow()
    mongo_db[MANAGER_LINKING_KEYS].insert_one({"secret_key": b"k" * 32,
                                               "remove_after": now - datetime.timedelta(minutes=1)})
    client = celery.Celery("test-client", broker=redis_url, backend=redis_url)
    result = client.send_task("flamenco.celery.remove_expired_linking_keys")
    try:
        assert result.get(timeout=WORKER_TASK_TIMEOUT) == 1
    except Exception:
        print(celery_worker.read_text())
        raise
    assert mongo_db[MANAGER_LINKING_KEYS].count_documents({}) == 0


def test_archive_job_patch_is_executed_by_the_worker(mongo_uri, mongo_db, redis_url, storage_root,
                                                    completed_job, farm, celery_worker):
    app = create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True, "CELERY_ENABLED": True,
                      "STORAGE_DIR": str(storage_root)})
    token = make_token(mongo_db, farm["user"])
    with app.test_client() as client:
        resp = client.patch(f"/api/flamenco/jobs/{completed_job['_id']}", json={"op": "archive-job"},
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 204, resp.json
    deadline = time.monotonic() + WORKER_TASK_TIMEOUT
    job = None
    while time.monotonic() < deadline:
        job = mongo_db["flamenco_jobs"].find_one({"_id": completed_job["_id"]})
        if job["status"] == "archived":
            break
        time.sleep(0.2)
    assert job["status"] == "archived", celery_worker.read_text()
    assert (storage_root / job["archive_blob_name"]).is_file()


def test_beat_schedule_names_registered_tasks():
    schedule = flamenco_celery.app.conf.beat_schedule
    assert {"runnability-check", "remove-waiting-for-files", "resume-job-archiving",
            "remove-orphan-task-logs", "remove-expired-linking-keys"} <= set(schedule)
    for entry in schedule.values():
        assert entry["task"] in flamenco_celery.app.tasks
        assert entry["task"].startswith("flamenco.celery.")
