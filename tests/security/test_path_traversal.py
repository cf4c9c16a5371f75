"""Log and file endpoints never serve a file outside their directory.

A secret file is placed next to (outside) the log/storage directory; every
traversal spelling must be refused and its content never appear.
"""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import flask
import pytest
from pymongo.database import Database

from flamenco.manager_api import storage
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from tests.support.manager_client import ManagerClient
from tests.support.server import make_job, make_manager, make_project, make_token, make_user

SECRET_CONTENT = "top-secret-content-outside-the-log-directory"
VALID_ID = "5f0000000000000000000001"
# Ways to spell "go up" in a URL path segment.
TRAVERSALS = ["..", "%2e%2e", "..%2f..%2fsecret.txt", "%2e%2e%2f%2e%2e%2fsecret.txt", "..%5c..%5csecret.txt",
              "....//....//secret.txt", "%252e%252e%252fsecret.txt"]


@pytest.fixture
def manager_with_logs(ctx: ManagerContext, tmp_path: Path) -> ManagerClient:
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "secret.txt").write_text(SECRET_CONTENT)
    config = build_config(ctx.config.as_dict() | {"task_logs_path": str(logs)})
    ctx.config = config
    return ManagerClient(ctx, login=True)


@pytest.mark.parametrize("job_part, task_part", [(t, VALID_ID) for t in TRAVERSALS]
                         + [(VALID_ID, t) for t in TRAVERSALS])
def test_manager_logfile_refuses_traversal(manager_with_logs: ManagerClient, job_part: str,
                                           task_part: str) -> None:
    resp = manager_with_logs.get(f"/logfile/{job_part}/{task_part}", headers={"User-Agent": "curl/8"})
    assert resp.status_code in (400, 404)
    assert SECRET_CONTENT not in resp.get_data(as_text=True)


def test_manager_logfile_serves_a_log_inside_its_directory(manager_with_logs: ManagerClient) -> None:
    """The control: the endpoint does serve files, so the refusals above mean something."""
    from flamenco_manager import task_logs

    root = Path(manager_with_logs.ctx.config.task_logs_path)
    task_logs.append(root, VALID_ID, VALID_ID, "a real log line")
    resp = manager_with_logs.get(f"/logfile/{VALID_ID}/{VALID_ID}", headers={"User-Agent": "curl/8"})
    assert resp.status_code == 200
    assert "a real log line" in resp.get_data(as_text=True)


@pytest.mark.parametrize("relative", ["../secret.txt", "../../etc/passwd", "/etc/passwd",
                                      "flamenco-task-logs/../../secret.txt"])
def test_storage_resolve_refuses_escapes(tmp_path: Path, relative: str) -> None:
    with pytest.raises(storage.UnsafePath):
        storage.resolve(tmp_path / "storage", relative)


@pytest.fixture
def task_with_log(mongo_db: Database):
    user = make_user(mongo_db, "log-reader", roles=("admin",))
    project = make_project(mongo_db, "Logs", members=[(user, "admin")], url="logs")
    manager, manager_token = make_manager(mongo_db, projects=[project], owner=user)
    job = make_job(mongo_db, project, manager, user)
    task = mongo_db["flamenco_tasks"].find_one({"job": job["_id"]})
    return task, make_token(mongo_db, user), manager, manager_token


def test_server_log_download_refuses_a_stored_path_outside_storage(server_app: flask.Flask, mongo_db: Database,
                                                                   storage_dir: Path, task_with_log) -> None:
    """Even a tampered ``log_file.file_path`` in the database cannot reach outside the storage dir."""
    task, token, _, _ = task_with_log
    (storage_dir.parent / "secret.txt").write_text(SECRET_CONTENT)
    mongo_db["flamenco_tasks"].update_one({"_id": task["_id"]}, {"$set": {
        "log_file": {"backend": "local", "file_path": "../secret.txt"}}})

    resp = server_app.test_client().get(f"/p/logs/tasks/{task['_id']}/log.gz",
                                        headers={"Authorization": f"Bearer {token}"})

    assert resp.status_code == 404
    assert SECRET_CONTENT not in resp.get_data(as_text=True)


@pytest.mark.parametrize("task_part", TRAVERSALS)
def test_server_attach_task_log_refuses_traversal(server_app: flask.Flask, storage_dir: Path, task_with_log,
                                                  task_part: str) -> None:
    _, _, manager, manager_token = task_with_log
    data = {"logfile": (io.BytesIO(gzip.compress(b"log")), "task.log.gz")}
    resp = server_app.test_client().post(f"/api/flamenco/managers/{manager['_id']}/attach-task-log/{task_part}",
                                         data=data, headers={"Authorization": f"Bearer {manager_token}"},
                                         content_type="multipart/form-data")
    assert resp.status_code in (400, 404)
    written = [p for p in storage_dir.parent.rglob("*") if p.is_file()]
    assert all(storage_dir in p.parents for p in written if p.name.endswith(".gz"))


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py", "/dashboard-static/../../app.py",
                                  "/dashboard-static/%2e%2e%2f%2e%2e%2fapp.py"])
def test_server_static_files_refuse_traversal(server_app: flask.Flask, path: str) -> None:
    resp = server_app.test_client().get(path)
    assert resp.status_code == 404
    assert "create_app" not in resp.get_data(as_text=True)
