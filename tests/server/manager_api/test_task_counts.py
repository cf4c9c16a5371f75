"""Per-job task counts over the wire: submission, depsgraph, task-update batches, user operations, deletion.

After each step the counts stored in the job document must equal a real count
of the job's tasks (``assert_task_counts``), and the job rules of a batch must
get them without counting the tasks.
"""
from __future__ import annotations

import pytest
from bson import ObjectId

from flamenco import clock, status, task_counts
from flamenco.manager_api import task_updates
from tests.support.server import job_doc, make_job
from tests.support.task_counts import assert_task_counts

JOBS = "/api/flamenco/jobs"
TASKS = "flamenco_tasks"
SETTINGS = {"frames": "1-12", "chunk_size": 4, "time_in_seconds": 1}
RENDER_SETTINGS = {"filepath": "/shots/shot.blend", "render_output": "/render/shot/######", "frames": "1-4",
                   "chunk_size": 2}


def upd(task_id, **fields) -> dict:
    return {"_id": str(ObjectId()), "task_id": str(task_id), **fields}


def post_batch(mgr, updates) -> dict:
    resp = mgr.post("/task-update-batch", json=updates)
    assert resp.status_code == 200, resp.json
    return resp.json


def task_ids(world, job_id) -> list[ObjectId]:
    return [t["_id"] for t in world.db[TASKS].find({"job": job_id}).sort("name", 1)]


def job_status(world, job_id) -> str:
    return world.db["flamenco_jobs"].find_one({"_id": job_id})["status"]


def patch_job(world, job_id, **payload) -> None:
    resp = world.api("alice").patch(f"{JOBS}/{job_id}", json=payload)
    assert resp.status_code == 204, resp.get_json()


def patch_task(world, task_id, **payload) -> None:
    resp = world.api("alice").patch(f"/api/flamenco/tasks/{task_id}", json=payload)
    assert resp.status_code == 204, resp.get_json()


def test_life_of_a_job(world, mgr_a):
    api = world.api("alice")
    resp = api.post(JOBS, json=job_doc(world.project_a, world.manager_a, world.alice, settings=SETTINGS))
    assert resp.status_code == 201, resp.get_json()
    job_id = ObjectId(resp.get_json()["_id"])
    assert assert_task_counts(world.db, job_id) == {"queued": 3}
    # The counters are server bookkeeping: not in the job as the API shows it.
    shown = api.get(f"{JOBS}/{job_id}").get_json()
    assert not set(shown) & set(task_counts.COUNTER_FIELDS)
    assert api.get(f"{JOBS}/{job_id}/task-counts").get_json() == {"queued": 3}

    assert mgr_a.get("/depsgraph").status_code == 200
    assert assert_task_counts(world.db, job_id) == {"claimed-by-manager": 3}
    ids = task_ids(world, job_id)

    post_batch(mgr_a, [upd(ids[0], task_status="active"), upd(ids[1], task_status="active")])
    assert assert_task_counts(world.db, job_id) == {"active": 2, "claimed-by-manager": 1}
    assert job_status(world, job_id) == "active"

    # One task completes, one fails (a third of the job: it fails), one starts.
    post_batch(mgr_a, [upd(ids[0], task_status="completed"), upd(ids[1], task_status="failed"),
                       upd(ids[2], task_status="active")])
    assert job_status(world, job_id) == "failed"
    assert assert_task_counts(world.db, job_id) == {"completed": 1, "failed": 1, "cancel-requested": 1}
    resent = [upd(ids[2], task_status="canceled")]
    post_batch(mgr_a, resent)
    post_batch(mgr_a, resent)  # a re-sent batch changes nothing
    assert assert_task_counts(world.db, job_id) == {"completed": 1, "failed": 1, "canceled": 1}

    patch_job(world, job_id, op="set-job-status", status="requeued")
    assert job_status(world, job_id) == "queued"
    assert assert_task_counts(world.db, job_id) == {"completed": 1, "queued": 2}
    patch_job(world, job_id, op="set-job-status", status="paused")
    assert assert_task_counts(world.db, job_id) == {"completed": 1, "paused": 2}
    patch_job(world, job_id, op="set-job-status", status="queued")
    assert assert_task_counts(world.db, job_id) == {"completed": 1, "queued": 2}

    assert mgr_a.get("/depsgraph").status_code == 200
    post_batch(mgr_a, [upd(ids[1], task_status="active")])
    assert assert_task_counts(world.db, job_id) == {"completed": 1, "active": 1, "claimed-by-manager": 1}
    patch_job(world, job_id, op="set-job-status", status="cancel-requested")
    assert assert_task_counts(world.db, job_id) == {"completed": 1, "cancel-requested": 2}
    post_batch(mgr_a, [upd(ids[1], task_status="canceled"), upd(ids[2], task_status="canceled")])
    assert job_status(world, job_id) == "canceled"
    assert assert_task_counts(world.db, job_id) == {"completed": 1, "canceled": 2}

    patch_job(world, job_id, op="recreate")
    assert job_status(world, job_id) == "queued"
    assert assert_task_counts(world.db, job_id) == {"queued": 3}

    patch_job(world, job_id, op="set-job-status", status="paused")
    etag = api.get(f"{JOBS}/{job_id}").headers["ETag"]
    assert api.delete(f"{JOBS}/{job_id}", headers={"If-Match": etag}).status_code == 204
    assert world.db[TASKS].count_documents({"job": job_id}) == 0


def test_user_task_operations(world, mgr_a):
    job = make_job(world.db, world.project_a, world.manager_a, world.alice,
                   settings={"frames": "1-20", "chunk_size": 1, "time_in_seconds": 1})  # 1 failure: 5 %
    assert mgr_a.get("/depsgraph").status_code == 200
    ids = task_ids(world, job["_id"])
    post_batch(mgr_a, [upd(ids[0], task_status="failed"), upd(ids[1], task_status="completed"),
                       upd(ids[2], task_status="active")])
    assert job_status(world, job["_id"]) == "active"
    assert assert_task_counts(world.db, job["_id"]) == {"failed": 1, "completed": 1, "active": 1,
                                                       "claimed-by-manager": 17}
    patch_task(world, ids[2], op="set-task-status", status="cancel-requested")
    patch_task(world, ids[1], op="set-task-status", status="queued")
    assert assert_task_counts(world.db, job["_id"]) == {"failed": 1, "queued": 1, "cancel-requested": 1,
                                                       "claimed-by-manager": 17}
    patch_job(world, job["_id"], op="requeue-failed-tasks")
    assert assert_task_counts(world.db, job["_id"]) == {"queued": 2, "cancel-requested": 1,
                                                       "claimed-by-manager": 17}
    post_batch(mgr_a, [upd(ids[2], task_status="canceled")])
    patch_task(world, ids[2], op="requeue")
    assert assert_task_counts(world.db, job["_id"]) == {"queued": 3, "claimed-by-manager": 17}


def test_rna_overrides_task_is_counted(world):
    job = make_job(world.db, world.project_a, world.manager_a, world.alice, job_type="blender-render",
                   settings=RENDER_SETTINGS)
    before = assert_task_counts(world.db, job["_id"])
    patch_job(world, job["_id"], op="rna-overrides", rna_overrides=["x = 1"])
    assert assert_task_counts(world.db, job["_id"]) == {**before, "queued": before["queued"] + 1}
    [task] = world.db[TASKS].find({"job": job["_id"], "name": "rna-overrides"})
    status.set_task_status(world.db, task["_id"], "completed", actor=status.Actor.SYSTEM)
    patch_job(world, job["_id"], op="rna-overrides", rna_overrides=["x = 2"])
    assert assert_task_counts(world.db, job["_id"]) == {**before, "queued": before["queued"] + 1}


def test_batch_rules_read_the_job_not_the_tasks(world, mgr_a, job, monkeypatch):
    assert_task_counts(world.db, job["_id"])  # stored by the construction
    monkeypatch.setattr(task_counts, "aggregate", lambda *a: pytest.fail("the tasks were counted"))
    assert mgr_a.get("/depsgraph").status_code == 200
    ids = task_ids(world, job["_id"])
    post_batch(mgr_a, [upd(t, task_status="active") for t in ids])
    post_batch(mgr_a, [upd(t, task_status="completed") for t in ids[:2]])
    assert job_status(world, job["_id"]) == "active"
    post_batch(mgr_a, [upd(ids[2], task_status="completed")])
    assert job_status(world, job["_id"]) == "completed"
    assert world.api("alice").get(f"{JOBS}/{job['_id']}/task-counts").get_json() == {"completed": 3}
    monkeypatch.undo()
    assert_task_counts(world.db, job["_id"])


def test_batch_racing_a_job_cancel_recounts_that_job(world, mgr_a, job):
    """A user cancels the job between the batch reading its tasks and writing them."""
    assert mgr_a.get("/depsgraph").status_code == 200
    ids = task_ids(world, job["_id"])
    post_batch(mgr_a, [upd(t, task_status="active") for t in ids])
    tasks = {t["_id"]: t for t in world.db[TASKS].find({"_id": {"$in": ids}},
                                                      projection=task_updates.TASK_PROJECTION)}
    states = {
        ids[0]: task_updates.TaskState(task=tasks[ids[0]], status="completed", reported=["completed"]),
        ids[1]: task_updates.TaskState(task=tasks[ids[1]], status="failed", reported=["failed"]),
    }
    status.set_job_status(world.db, job["_id"], "cancel-requested", actor=status.Actor.USER)
    assert assert_task_counts(world.db, job["_id"]) == {"cancel-requested": 3}
    assert task_updates.write_states(world.db, states, clock.utcnow()) == 2
    assert assert_task_counts(world.db, job["_id"], maintained=False) == {
        "completed": 1, "failed": 1, "cancel-requested": 1}
    assert_task_counts(world.db, job["_id"])  # the read above stored the recount


def test_batch_of_several_jobs_moves_each_jobs_counts(world, mgr_a, job):
    other = make_job(world.db, world.project_a, world.manager_a, world.alice, settings=SETTINGS)
    assert mgr_a.get("/depsgraph").status_code == 200
    mine, theirs = task_ids(world, job["_id"]), task_ids(world, other["_id"])
    post_batch(mgr_a, [upd(mine[0], task_status="active"), upd(theirs[0], task_status="completed"),
                       upd(theirs[1], task_status="active"), upd(theirs[1], task_status="completed")])
    assert assert_task_counts(world.db, job["_id"]) == {"active": 1, "claimed-by-manager": 2}
    assert assert_task_counts(world.db, other["_id"]) == {"completed": 2, "claimed-by-manager": 1}
