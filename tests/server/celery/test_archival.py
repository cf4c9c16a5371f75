"""Job archival: ZIP contents, deletion of tasks and logs, resumability, refusals."""
from __future__ import annotations

import gzip
import json
import zipfile

import pytest

from flamenco import clock, task_counts
from flamenco.celery import archival
from tests.support.server import make_job
from tests.support.task_counts import assert_task_counts

JOBS = "flamenco_jobs"
TASKS = "flamenco_tasks"


def test_archive_job_writes_zip_and_deletes_tasks_and_logs(mongo_db, completed_job, storage_root):
    job_id = completed_job["_id"]
    assert assert_task_counts(mongo_db, job_id, maintained=False) == {"completed": 3}
    tasks = list(mongo_db[TASKS].find({"job": job_id}).sort("name", 1))
    name = archival.archive_job(mongo_db, job_id, storage_root)
    assert name == f"flamenco-jobs/flamenco-job-{job_id}.zip"
    job = mongo_db[JOBS].find_one({"_id": job_id})
    assert job["status"] == "archived"
    assert job["archive_blob_name"] == name
    with zipfile.ZipFile(storage_root / name) as archive:
        names = set(archive.namelist())
        assert f"job-{job_id}.json" in names
        assert {f"task-{t['_id']}.json" for t in tasks} <= names
        first = tasks[0]["_id"]
        assert gzip.decompress(archive.read(f"task-{first}.log.gz")) == b"first chunk\nsecond chunk\n"
        assert gzip.decompress(archive.read(f"task-{first}-manager.log.gz")) == b"uploaded full log"
        archived_job = json.loads(archive.read(f"job-{job_id}.json"))
        assert archived_job["status"] == "completed"
        assert "pre_archive_status" not in archived_job
        assert not set(archived_job) & set(task_counts.COUNTER_FIELDS)
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 0
    assert mongo_db["flamenco_task_logs"].count_documents({}) == 0
    assert not (storage_root / "flamenco-task-logs" / f"job-{job_id}").exists()
    assert assert_task_counts(mongo_db, job_id) == {}
    # Running it again is a no-op.
    assert archival.archive_job(mongo_db, job_id, storage_root) is None


def test_archival_resumes_after_the_zip_was_stored(mongo_db, completed_job, storage_root):
    """A worker that died between storing the ZIP and deleting the tasks: the rerun keeps the ZIP."""
    job_id = completed_job["_id"]
    mongo_db[JOBS].update_one({"_id": job_id}, {"$set": {"pre_archive_status": "completed", "status": "archiving"}})
    name = archival.build_archive(mongo_db, mongo_db[JOBS].find_one({"_id": job_id}), storage_root)
    mongo_db[JOBS].update_one({"_id": job_id}, {"$set": {"archive_blob_name": name}})
    mongo_db[TASKS].delete_one({"job": job_id})  # half of the deletions happened
    assert archival.archive_job(mongo_db, job_id, storage_root) == name
    with zipfile.ZipFile(storage_root / name) as archive:
        assert len([n for n in archive.namelist() if n.endswith(".json")]) == 4  # job + 3 tasks, as first built
    assert mongo_db[JOBS].find_one({"_id": job_id})["status"] == "archived"
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 0
    assert assert_task_counts(mongo_db, job_id) == {}


def test_existing_archive_name_gets_a_unique_suffix(mongo_db, completed_job, storage_root):
    job_id = completed_job["_id"]
    taken = storage_root / f"flamenco-jobs/flamenco-job-{job_id}.zip"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"someone else's")
    name = archival.archive_job(mongo_db, job_id, storage_root)
    assert name != f"flamenco-jobs/flamenco-job-{job_id}.zip" and name.endswith(".zip")
    assert taken.read_bytes() == b"someone else's"
    assert zipfile.is_zipfile(storage_root / name)


def test_running_job_is_not_archived(mongo_db, farm, storage_root):
    job = make_job(mongo_db, farm["project"], farm["manager"], farm["user"])
    with pytest.raises(archival.ArchivalError, match="queued"):
        archival.archive_job(mongo_db, job["_id"], storage_root)
    assert mongo_db[TASKS].count_documents({"job": job["_id"]}) == 3


def test_jobs_to_resume_are_old_archiving_ones(mongo_db, completed_job):
    import datetime

    mongo_db[JOBS].update_one({"_id": completed_job["_id"]}, {"$set": {
        "status": "archiving", "_updated": clock.utcnow() - datetime.timedelta(days=2)}})
    assert archival.jobs_to_resume(mongo_db, datetime.timedelta(days=1)) == [completed_job["_id"]]
    assert archival.jobs_to_resume(mongo_db, datetime.timedelta(days=3)) == []
