"""PATCH operations on jobs: status, priority, requeue of failed tasks, archival, recreate, RNA overrides."""
from __future__ import annotations

import json

import pytest
import redis

from flamenco.web import live_events
from tests.server.docs import insert_job, insert_task, insert_task_log
from tests.support.server import make_job
from tests.support.task_counts import force_tasks

JOBS = "/api/flamenco/jobs"


def url(job) -> str:
    return f"{JOBS}/{job['_id']}"


def stored(world, doc, collection="flamenco_jobs") -> dict:
    return world.db[collection].find_one({"_id": doc["_id"]})


@pytest.fixture
def job(world):
    return insert_job(world.db, world.project_a, world.manager_a, world.alice, status="queued")


def test_cancel_queued_job_cancels_its_queued_tasks(world, job):
    task = insert_task(world.db, job, status="queued")
    resp = world.api("alice").patch(url(job), json={"op": "set-job-status", "status": "cancel-requested"})
    assert resp.status_code == 204
    doc = stored(world, job)
    assert doc["status"] == "canceled"
    assert "Alice A (@alice)" in doc["status_reason"]
    assert stored(world, task, "flamenco_tasks")["status"] == "canceled"


def test_illegal_job_transition_is_409_with_reason(world, job):
    resp = world.api("alice").patch(url(job), json={"op": "set-job-status", "status": "completed"})
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["_code"] == 409 and body["_issues"]["status"]
    assert stored(world, job)["status"] == "queued"
    missing = world.api("alice").patch(url(job), json={"op": "set-job-status"})
    assert missing.status_code == 422 and "status" in missing.get_json()["_issues"]


def test_job_ops_need_use_rights_in_the_project(world, job):
    body = {"op": "set-job-status", "status": "cancel-requested"}
    assert world.api("vera").patch(url(job), json=body).status_code == 403
    assert world.api("bob").patch(url(job), json=body).status_code == 404
    assert world.api("manager_a").patch(url(job), json=body).status_code == 403
    assert world.api("manager_b").patch(url(job), json=body).status_code == 404
    assert world.api(None).patch(url(job), json=body).status_code == 401
    assert stored(world, job)["status"] == "queued"


def test_set_job_priority_updates_tasks(world, job):
    task = insert_task(world.db, job)
    resp = world.api("alice").patch(url(job), json={"op": "set-job-priority", "priority": 80})
    assert resp.status_code == 204
    doc, task_doc = stored(world, job), stored(world, task, "flamenco_tasks")
    assert doc["priority"] == 80 and task_doc["job_priority"] == 80
    assert doc["_etag"] == task_doc["_etag"] != job["_etag"]


@pytest.mark.parametrize("priority", [0, 101, "high", True, None, 5.5])
def test_set_job_priority_is_range_and_type_checked(world, job, priority):
    resp = world.api("alice").patch(url(job), json={"op": "set-job-priority", "priority": priority})
    assert resp.status_code == 422
    assert "priority" in resp.get_json()["_issues"]
    assert stored(world, job)["priority"] == 50


def test_requeue_failed_tasks(world):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status="active")
    failed = insert_task(world.db, job, status="failed")
    done = insert_task(world.db, job, status="completed")
    resp = world.api("alice").patch(url(job), json={"op": "requeue-failed-tasks"})
    assert resp.status_code == 204
    assert stored(world, failed, "flamenco_tasks")["status"] == "queued"
    assert stored(world, done, "flamenco_tasks")["status"] == "completed"


def test_requeue_failed_tasks_of_completed_job_is_409(world):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status="completed")
    resp = world.api("alice").patch(url(job), json={"op": "requeue-failed-tasks"})
    assert resp.status_code == 409


def test_archive_job_marks_archiving(world):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status="completed")
    resp = world.api("alice").patch(url(job), json={"op": "archive-job"})
    assert resp.status_code == 204
    doc = stored(world, job)
    assert doc["status"] == "archiving" and doc["pre_archive_status"] == "completed"
    again = world.api("alice").patch(url(job), json={"op": "archive-job"})
    assert again.status_code == 409 and "status" in again.get_json()["_issues"]


def test_active_job_cannot_be_archived(world):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status="active")
    resp = world.api("alice").patch(url(job), json={"op": "archive-job"})
    assert resp.status_code == 409
    assert stored(world, job)["status"] == "active"


def test_archive_job_enqueues_celery_task(mongo_uri, redis_url, world):
    from flamenco.app import create_app

    app = create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True, "CELERY_ENABLED": True})
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status="failed")
    with app.test_client() as client:
        resp = client.patch(url(job), json={"op": "archive-job"},
                            headers={"Authorization": f"Bearer {world.tokens['alice']}"})
    assert resp.status_code == 204
    queued = redis.Redis.from_url(redis_url).lrange("celery", 0, -1)
    messages = [json.loads(m) for m in queued]
    assert [m["headers"]["task"] for m in messages] == ["flamenco.celery.archive_job"]
    assert str(job["_id"]) in messages[0]["headers"]["argsrepr"]


def test_status_change_through_the_api_is_announced_live(world, job, redis_url):
    """Open dashboards learn about API-made changes: the job event reaches Redis pub/sub."""
    pubsub = redis.Redis.from_url(redis_url).pubsub()
    pubsub.subscribe("flamenco:events")
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    insert_task(world.db, job, status="queued")
    resp = world.api("alice").patch(url(job), json={"op": "set-job-status", "status": "cancel-requested"})
    assert resp.status_code == 204
    message = pubsub.get_message(timeout=5)
    assert message is not None
    [event] = live_events.events_of(message["data"])[1]
    assert (event["kind"], event["_id"], event["status"]) == ("job", str(job["_id"]), "canceled")


# --- recreate and rna-overrides -------------------------------------------------------------

RENDER_SETTINGS = {"filepath": "/shots/shot.blend", "render_output": "/render/shot/######", "frames": "1-4",
                   "chunk_size": 2}
OVERRIDES = ["bpy.context.scene.render.resolution_percentage = 50"]


def compiled_job(world, job_status: str, **kwargs) -> dict:
    """A job compiled as POST does, then forced to ``job_status`` with all its tasks completed."""
    job = make_job(world.db, world.project_a, world.manager_a, world.alice, **kwargs)
    force_tasks(world.db, {"job": job["_id"]}, {"status": "completed"})
    world.db["flamenco_jobs"].update_one({"_id": job["_id"]}, {"$set": {"status": job_status}})
    return stored(world, job)


def task_ids(world, job) -> set:
    return {t["_id"] for t in world.db["flamenco_tasks"].find({"job": job["_id"]})}


def test_recreate_completed_job_gives_fresh_queued_tasks(world, redis_url):
    job = compiled_job(world, "completed")
    old_ids = task_ids(world, job)
    insert_task_log(world.db, {"_id": next(iter(old_ids))})
    live_updates = redis.Redis.from_url(redis_url).pubsub()
    live_updates.subscribe("flamenco:events")
    live_updates.get_message(timeout=1)  # the subscribe confirmation

    resp = world.api("alice").patch(url(job), json={"op": "recreate"})
    assert resp.status_code == 204, resp.get_json()
    doc = stored(world, job)
    tasks = list(world.db["flamenco_tasks"].find({"job": job["_id"]}))
    assert doc["status"] == "queued" and doc["status_reason"] == "Recreated by Alice A (@alice)"
    assert len(tasks) == len(old_ids) == 3 and not {t["_id"] for t in tasks} & old_ids
    assert {t["status"] for t in tasks} == {"queued"}
    assert world.db["flamenco_task_logs"].count_documents({}) == 0
    message = live_updates.get_message(timeout=5)
    assert message is not None, "no live update was published"
    [event] = live_events.events_of(message["data"])[1]
    assert (event["_id"], event["status"]) == (str(job["_id"]), "queued")
    live_updates.close()


@pytest.mark.parametrize("job_status", ["active", "queued", "archived"])
def test_recreate_is_refused_unless_nothing_runs(world, job_status):
    job = compiled_job(world, job_status)
    old_ids = task_ids(world, job)
    resp = world.api("alice").patch(url(job), json={"op": "recreate"})
    assert resp.status_code == 409
    assert "can be recreated" in resp.get_json()["_issues"]["status"]
    assert stored(world, job)["status"] == job_status and task_ids(world, job) == old_ids


@pytest.mark.parametrize("body", [{"op": "recreate"}, {"op": "rna-overrides", "rna_overrides": OVERRIDES}])
def test_recreate_and_rna_overrides_need_use_rights_in_the_project(world, body):
    job = compiled_job(world, "completed", job_type="blender-render", settings=RENDER_SETTINGS)
    old_ids = task_ids(world, job)
    assert world.api("vera").patch(url(job), json=body).status_code == 403
    assert world.api("bob").patch(url(job), json=body).status_code == 404
    assert world.api("manager_a").patch(url(job), json=body).status_code == 403
    assert stored(world, job) == job and task_ids(world, job) == old_ids


def test_rna_overrides_creates_then_updates_the_task_and_leaves_the_job_status(world):
    job = compiled_job(world, "completed", job_type="blender-render", settings=RENDER_SETTINGS)
    resp = world.api("alice").patch(url(job), json={"op": "rna-overrides", "rna_overrides": OVERRIDES})
    assert resp.status_code == 204, resp.get_json()
    [task] = world.db["flamenco_tasks"].find({"job": job["_id"], "name": "rna-overrides"})
    assert task["status"] == "queued"
    assert task["commands"][0]["name"] == "create_python_file"
    assert task["commands"][0]["settings"]["contents"].endswith(OVERRIDES[0] + "\n")
    renders = list(world.db["flamenco_tasks"].find({"job": job["_id"], "task_type": "blender-render"}))
    assert renders and all(r["parents"] == [task["_id"]] for r in renders)
    doc = stored(world, job)
    assert doc["status"] == "completed" and doc["settings"]["rna_overrides"] == OVERRIDES

    force_tasks(world.db, {"_id": task["_id"]}, {"status": "completed"})
    resp = world.api("alice").patch(url(job), json={"op": "rna-overrides", "rna_overrides": ["x = 2"]})
    assert resp.status_code == 204, resp.get_json()
    [again] = world.db["flamenco_tasks"].find({"job": job["_id"], "name": "rna-overrides"})
    assert again["_id"] == task["_id"] and again["status"] == "queued"
    assert again["commands"][0]["settings"]["contents"].endswith("x = 2\n")
    assert stored(world, job)["status"] == "completed"


@pytest.mark.parametrize("body, reason", [
    ({}, "list of strings"),
    ({"rna_overrides": "x = 1"}, "list of strings"),
    ({"rna_overrides": ["x = 1", 2]}, "list of strings"),
    ({"rna_overrides": ["x = 1", "y = ("]}, "in line 'y = ('"),
])
def test_bad_rna_overrides_are_422_naming_the_field(world, body, reason):
    job = compiled_job(world, "completed", job_type="blender-render", settings=RENDER_SETTINGS)
    resp = world.api("alice").patch(url(job), json={"op": "rna-overrides", **body})
    assert resp.status_code == 422
    assert reason in resp.get_json()["_issues"]["rna_overrides"]
    assert "rna_overrides" not in stored(world, job)["settings"]
    assert world.db["flamenco_tasks"].count_documents({"job": job["_id"], "name": "rna-overrides"}) == 0


def test_rna_overrides_of_a_sleep_job_is_422_on_the_job_type(world):
    job = compiled_job(world, "completed")
    resp = world.api("alice").patch(url(job), json={"op": "rna-overrides", "rna_overrides": OVERRIDES})
    assert resp.status_code == 422
    assert "do not render with Blender" in resp.get_json()["_issues"]["job_type"]
    assert "rna_overrides" not in stored(world, job)["settings"]


def test_rna_overrides_of_an_archived_job_is_409(world):
    job = compiled_job(world, "archived", job_type="blender-render", settings=RENDER_SETTINGS)
    resp = world.api("alice").patch(url(job), json={"op": "rna-overrides", "rna_overrides": OVERRIDES})
    assert resp.status_code == 409 and "archived" in resp.get_json()["_issues"]["status"]


@pytest.mark.parametrize("frozen", ["archived", "archiving", "under-construction"])
def test_priority_of_archived_or_constructing_jobs_cannot_change(world, frozen):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status=frozen)
    resp = world.api("alice").patch(url(job), json={"op": "set-job-priority", "priority": 80})
    assert resp.status_code == 409
    assert "status" in resp.get_json()["_issues"]
    assert stored(world, job)["priority"] == 50
