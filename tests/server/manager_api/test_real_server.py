"""The Manager protocol against a real server process over HTTP, as a Manager 2.x speaks it."""
from __future__ import annotations

import httpx
from bson import ObjectId

from tests.support.server import make_job, make_manager, make_project, make_user, running_server


def test_manager_round_trip_over_http(mongo_uri, mongo_db, redis_url, tmp_path):
    user = make_user(mongo_db, "dora")
    project = make_project(mongo_db, "Film", members=[(user, "admin")])
    manager, token = make_manager(mongo_db, projects=[project], owner=user)
    job = make_job(mongo_db, project, manager, user)
    with running_server(mongo_uri, redis_url, STORAGE_DIR=str(tmp_path / "storage")) as base_url:
        with httpx.Client(base_url=f"{base_url}/api/flamenco/managers/{manager['_id']}",
                          auth=(token, ""), timeout=60) as client:
            startup = {"_meta": {"version": 2}, "manager_url": "http://m:8083/", "variables": {},
                       "nr_of_workers": 2, "worker_task_types": ["sleep"]}
            assert client.post("/startup", json=startup).status_code == 204
            resp = client.get("/depsgraph")
            assert resp.status_code == 200
            tasks = resp.json()["depsgraph"]
            assert len(tasks) == 3 and {t["status"] for t in tasks} == {"claimed-by-manager"}
            last = resp.headers["X-Flamenco-Last-Updated"]
            assert client.get("/depsgraph", headers={"X-Flamenco-If-Updated-Since": last}).status_code == 304
            updates = [{"_id": str(ObjectId()), "task_id": t["_id"], "task_status": "completed",
                        "received_on_manager": "2026-01-01T00:00:00.000000001Z"} for t in tasks]
            resp = client.post("/task-update-batch", json=updates)
            assert resp.status_code == 200
            assert resp.json()["handled_update_ids"] == [u["_id"] for u in updates]
            assert client.get("/depsgraph").status_code == 204
    assert mongo_db["flamenco_jobs"].find_one({"_id": job["_id"]})["status"] == "completed"
    assert mongo_db["flamenco_managers"].find_one({"_id": manager["_id"]})["worker_task_types"] == ["sleep"]
