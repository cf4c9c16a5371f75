"""Measure the Manager API hot paths on FerretDB: depsgraph and task-update-batch.

Not a test (no timing assertions in tests): run it by hand and read the figures.

    .venv/bin/python -m tests.server.manager_api.measure_hot_paths --tasks 10000 --updates 1000

Starts its own FerretDB in a temporary directory, creates a job with
``--tasks`` tasks, then prints milliseconds and MongoDB command counts for a
clean-slate depsgraph (which claims every task), an incremental depsgraph,
and task-update batches of ``--updates`` updates (spread over a few tasks,
and one per task).
"""
from __future__ import annotations

import argparse
import base64
import tempfile
import time
from pathlib import Path

from bson import ObjectId
from pymongo import monitoring

from flamenco import clock, status
from flamenco.app import create_app
from flamenco.farm import services
from tests.support.commands import CommandCounter
from tests.support.server import make_manager, make_project, make_user


def insert_job(db, project, manager, user, n_tasks: int, task_status: str) -> ObjectId:
    """A queued job with ``n_tasks`` sleep tasks in ``task_status``, inserted in bulk."""
    now = clock.utcnow()
    job_id = db["flamenco_jobs"].insert_one({
        "name": "bench", "job_type": "sleep", "project": project["_id"], "manager": manager["_id"],
        "user": user["_id"], "status": "queued", "priority": 50, "settings": {},
        "_created": now, "_updated": now, "_etag": status.new_etag()}).inserted_id
    db["flamenco_tasks"].insert_many([{
        "job": job_id, "manager": manager["_id"], "project": project["_id"], "user": user["_id"],
        "name": f"sleep-{i}", "status": task_status, "priority": 0, "job_priority": 50, "job_type": "sleep",
        "task_type": "sleep", "commands": [{"name": "sleep", "settings": {"time_in_seconds": 1}}],
        "_created": now, "_updated": now, "_etag": status.new_etag()} for i in range(n_tasks)])
    return job_id


def timed(counter: CommandCounter, label: str, func):
    counter.counts.clear()
    start = time.perf_counter()
    result = func()
    elapsed = (time.perf_counter() - start) * 1000
    print(f"{label}: {elapsed:.0f} ms, MongoDB commands: {dict(counter.counts)}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=1_000)
    parser.add_argument("--preclaimed", action="store_true",
                        help="insert the tasks as claimed-by-manager, so the depsgraph only reads")
    parser.add_argument("--tasks-per-batch", type=int, default=20,
                        help="distinct tasks the first batch's updates are spread over")
    args = parser.parse_args()
    counter = CommandCounter()
    monitoring.register(counter)
    with tempfile.TemporaryDirectory(prefix="flamenco-measure-") as tmp:
        svc = services.start_ferretdb(Path(tmp) / "ferretdb")
        try:
            uri = services.mongo_uri_for(svc.extra["port"], "measure")
            app = create_app({"MONGO_URI": uri, "TESTING": True, "CELERY_ENABLED": False,
                              "STORAGE_DIR": str(Path(tmp) / "storage")})
            with app.app_context():
                db = app.data.driver.db
            user = make_user(db, "bench")
            project = make_project(db, "Bench", members=[(user, "admin")])
            manager, token = make_manager(db, projects=[project], owner=user)
            timed(counter, f"insert {args.tasks} tasks", lambda: insert_job(db, project, manager, user, args.tasks,
                                                 "claimed-by-manager" if args.preclaimed else "queued"))
            headers = {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}
            base = f"/api/flamenco/managers/{manager['_id']}"
            client = app.test_client()
            claimed = "already claimed" if args.preclaimed else "claimed now"
            resp = timed(counter, f"depsgraph clean slate, {args.tasks} tasks {claimed}",
                         lambda: client.get(f"{base}/depsgraph", headers=headers))
            assert resp.status_code == 200, resp.status_code
            since = resp.headers["X-Flamenco-Last-Updated"]
            resp = timed(counter, "depsgraph incremental, nothing changed",
                         lambda: client.get(f"{base}/depsgraph",
                                            headers={**headers, "X-Flamenco-If-Updated-Since": since}))
            assert resp.status_code == 304, resp.status_code
            task_ids = [t["_id"] for t in db["flamenco_tasks"].find({}, projection=["_id"]).limit(args.updates)]
            few = task_ids[:args.tasks_per_batch]
            progress = [{"_id": str(ObjectId()), "task_id": str(few[i % len(few)]), "task_status": "active",
                         "activity": f"step {i}", "task_progress_percentage": i % 100}
                        for i in range(args.updates)]
            resp = timed(counter, f"task-update-batch, {args.updates} updates over {len(few)} tasks",
                         lambda: client.post(f"{base}/task-update-batch", json=progress, headers=headers))
            assert len(resp.json["handled_update_ids"]) == args.updates
            done = [{"_id": str(ObjectId()), "task_id": str(t), "task_status": "completed"} for t in task_ids]
            resp = timed(counter, f"task-update-batch, {len(done)} updates each completing a task",
                         lambda: client.post(f"{base}/task-update-batch", json=done, headers=headers))
            assert len(resp.json["handled_update_ids"]) == len(done)
        finally:
            svc.stop()


if __name__ == "__main__":
    main()
