"""POST .../attach-task-log/<task_id>: gzipped uploads stored on local disk."""
from __future__ import annotations

import gzip
import io

from bson import ObjectId

TASKS = "flamenco_tasks"


def upload(mgr, task_id, data: bytes, filename: str = "task.txt.gz"):
    return mgr.post(f"/attach-task-log/{task_id}", data={"logfile": (io.BytesIO(data), filename, "text/plain+gzip")},
                    content_type="multipart/form-data")


def test_upload_stores_file_dequeues_request_and_sets_log_file(world, mgr_a, job, storage_dir):
    task = world.db[TASKS].find_one({"job": job["_id"]})
    world.db["flamenco_managers"].update_one({"_id": mgr_a.manager["_id"]}, {"$set": {
        "upload_task_file_queue": [{"job": job["_id"], "task": task["_id"]}]}})
    data = gzip.compress(b"full log of the task\n")
    resp = upload(mgr_a, task["_id"], data)
    assert resp.status_code == 201, resp.json
    assert resp.headers["Location"] == f"/flamenco/{world.project_a['url']}/tasks/{task['_id']}.log.gz"
    stored = world.db[TASKS].find_one({"_id": task["_id"]})["log_file"]
    assert stored == {"backend": "local",
                      "file_path": f"flamenco-task-logs/job-{job['_id']}/task-{task['_id']}.log.gz"}
    assert (storage_dir / stored["file_path"]).read_bytes() == data
    assert world.db["flamenco_managers"].find_one({"_id": mgr_a.manager["_id"]})["upload_task_file_queue"] == []
    # Uploading again replaces the file: 200.
    resp = upload(mgr_a, task["_id"], gzip.compress(b"newer"))
    assert resp.status_code == 200
    assert gzip.decompress((storage_dir / stored["file_path"]).read_bytes()) == b"newer"


def test_upload_must_be_gzip(world, mgr_a, job):
    task = world.db[TASKS].find_one({"job": job["_id"]})
    resp = upload(mgr_a, task["_id"], b"plain text", filename="task.txt")
    assert resp.status_code == 400 and "GZIP" in resp.json["_message"]
    resp = upload(mgr_a, task["_id"], b"plain text pretending", filename="task.txt.gz")
    assert resp.status_code == 400 and "logfile" in resp.json["_issues"]
    resp = mgr_a.post(f"/attach-task-log/{task['_id']}", data={}, content_type="multipart/form-data")
    assert resp.status_code == 400 and "logfile" in resp.json["_issues"]


def test_upload_for_foreign_or_unknown_task_is_404(world, mgr_b, job, storage_dir):
    task = world.db[TASKS].find_one({"job": job["_id"]})
    assert upload(mgr_b, task["_id"], gzip.compress(b"x")).status_code == 404
    assert upload(mgr_b, ObjectId(), gzip.compress(b"x")).status_code == 404
    assert not storage_dir.exists() or not any(storage_dir.rglob("*.gz"))


def test_upload_with_malformed_task_id_is_400(mgr_a):
    resp = upload(mgr_a, "../../etc", gzip.compress(b"x"))
    assert resp.status_code in (400, 404)
    resp = upload(mgr_a, "zzzzzzzzzzzzzzzzzzzzzzzz", gzip.compress(b"x"))
    assert resp.status_code == 400 and "task_id" in resp.json["_issues"]
