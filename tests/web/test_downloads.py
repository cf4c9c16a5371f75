"""Downloads from the server's storage: job archives and uploaded task logs."""
from __future__ import annotations

import gzip


def test_archived_job_offers_its_zip(alice, storage_dir, jobs_of):
    job = jobs_of(name="old", status="archived", task_statuses=(), archive_blob_name="archives/old.zip")
    (storage_dir / "archives").mkdir(parents=True)
    (storage_dir / "archives" / "old.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert "Download archive" in alice.get(f"/p/spring/jobs/{job['_id']}").get_data(as_text=True)
    response = alice.get(f"/p/spring/jobs/{job['_id']}/archive")
    assert response.status_code == 200
    assert response.data.startswith(b"PK")
    assert "attachment" in response.headers["Content-Disposition"]


def test_no_archive_is_a_readable_404(alice, jobs_of):
    job = jobs_of(name="busy", status="active")
    response = alice.get(f"/p/spring/jobs/{job['_id']}/archive")
    assert response.status_code == 404
    assert "not archived" in response.get_data(as_text=True)


def test_archive_name_cannot_leave_the_storage_dir(alice, storage_dir, jobs_of):
    secret = storage_dir.parent / "secret.txt"
    storage_dir.mkdir(parents=True)
    secret.write_text("not for you")
    job = jobs_of(name="evil", status="archived", task_statuses=(), archive_blob_name="../secret.txt")
    assert alice.get(f"/p/spring/jobs/{job['_id']}/archive").status_code == 404


def test_uploaded_task_log_downloads(alice, mongo_db, storage_dir, jobs_of):
    job = jobs_of(name="render", task_statuses=("failed",))
    task = job["tasks"][0]
    (storage_dir / "logs").mkdir(parents=True)
    (storage_dir / "logs" / "t.log.gz").write_bytes(gzip.compress(b"line 1\nline 2\n"))
    mongo_db["flamenco_tasks"].update_one({"_id": task["_id"]}, {"$set": {
        "log_file": {"backend": "local", "file_path": "logs/t.log.gz"}}})
    assert "Download the full log" in alice.get(f"/p/spring/tasks/{task['_id']}").get_data(as_text=True)
    response = alice.get(f"/p/spring/tasks/{task['_id']}/log.gz")
    assert response.status_code == 200
    assert gzip.decompress(response.data) == b"line 1\nline 2\n"


def test_missing_task_log_is_404(alice, jobs_of):
    job = jobs_of(name="render", task_statuses=("queued",))
    assert alice.get(f"/p/spring/tasks/{job['tasks'][0]['_id']}/log.gz").status_code == 404
