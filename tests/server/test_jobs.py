"""Job submission (POST), compilation without debris, and deletion."""
from __future__ import annotations

import json

import pytest

from flamenco.jobs import construction
from tests.server.docs import insert_job, insert_task, insert_task_log
from tests.support.server import job_doc, make_job

JOBS = "/api/flamenco/jobs"


def submit(world, who="alice", **changes):
    doc = job_doc(world.project_a, world.manager_a, world.alice)
    doc.update(changes)
    return world.api(who).post(JOBS, json=doc)


def tasks_of(world, job_id):
    return list(world.db["flamenco_tasks"].find({"job": job_id}))


def test_post_compiles_and_queues_job(world):
    resp = submit(world)
    assert resp.status_code == 201, resp.get_json()
    job_id = resp.get_json()["_id"]
    job = world.api("alice").get(f"{JOBS}/{job_id}").get_json()
    assert job["status"] == "queued"
    assert job["user"] == str(world.alice["_id"])
    tasks = tasks_of(world, job["_id"] and world.db["flamenco_jobs"].find_one()["_id"])
    assert len(tasks) == 3
    assert {t["status"] for t in tasks} == {"queued"}
    assert {t["manager"] for t in tasks} == {world.manager_a["_id"]}


def test_post_answers_the_constructed_status_and_current_etag(world):
    """Construction rewrites the job after Eve built its answer; the answer still tells how it stands."""
    body = submit(world).get_json()
    stored = world.db["flamenco_jobs"].find_one()
    assert body["status"] == "queued"
    assert body["_etag"] == stored["_etag"]
    resp = world.api("alice").get(f"{JOBS}/{body['_id']}", headers={"If-None-Match": body["_etag"]})
    assert resp.status_code == 304


@pytest.mark.parametrize("settings,expected", [
    ({"frames": "1-12", "chunk_size": 4}, 3),
    ({"frames": "1-10,20", "chunk_size": 2}, 6),
    ({"frames": "1-100000", "chunk_size": 1}, 100_000),
    ({"frames": "1-5"}, 5),
    ({"cmd": "echo hi"}, 1),
    ({"frames": "garbage", "chunk_size": 1}, 1),
])
def test_estimated_task_count_counts_frame_chunks(settings, expected):
    assert construction.estimated_task_count({"settings": settings}) == expected


def test_big_jobs_go_to_celery_only_when_it_is_enabled():
    big = {"settings": {"frames": "1-1001", "chunk_size": 1}}
    small = {"settings": {"frames": "1-1000", "chunk_size": 1}}
    enabled = {"CELERY_ENABLED": True, "INLINE_CONSTRUCTION_MAX_TASKS": 1000}
    assert construction.constructs_in_background(enabled, big)
    assert not construction.constructs_in_background(enabled, small)
    assert not construction.constructs_in_background({**enabled, "CELERY_ENABLED": False}, big)


def test_start_paused_job_and_tasks_are_paused(world):
    resp = submit(world, start_paused=True)
    assert resp.status_code == 201
    job = world.db["flamenco_jobs"].find_one()
    assert job["status"] == "paused"
    assert {t["status"] for t in tasks_of(world, job["_id"])} == {"paused"}


def test_user_defaults_to_caller_and_cannot_be_someone_else(world):
    doc = job_doc(world.project_a, world.manager_a, world.alice)
    del doc["user"]
    assert world.api("alice").post(JOBS, json=doc).status_code == 201
    doc = job_doc(world.project_a, world.manager_a, world.vera)
    resp = world.api("alice").post(JOBS, json=doc)
    assert resp.status_code == 422 and "user" in resp.get_json()["_issues"]


def test_manager_must_be_assigned_to_the_project(world):
    doc = job_doc(world.project_a, world.manager_b, world.alice)
    resp = world.api("alice").post(JOBS, json=doc)
    assert resp.status_code == 422
    assert "manager" in resp.get_json()["_issues"]


def test_non_members_viewers_and_managers_cannot_submit(world):
    doc = job_doc(world.project_a, world.manager_a, world.bob)
    assert world.api("bob").post(JOBS, json=doc).status_code == 403
    doc = job_doc(world.project_a, world.manager_a, world.vera)
    assert world.api("vera").post(JOBS, json=doc).status_code == 403
    doc = job_doc(world.project_a, world.manager_a, world.alice)
    assert world.api("manager_a").post(JOBS, json=doc).status_code == 403
    assert world.api(None).post(JOBS, json=doc).status_code == 401
    assert world.db["flamenco_jobs"].count_documents({}) == 0


@pytest.mark.parametrize("change,field", [
    ({"job_type": "knitting"}, "job_type"),
    ({"settings": {"frames": "1-10", "chunk_size": 2}}, "settings.time_in_seconds"),
    ({"settings": {"frames": "ten", "chunk_size": 2, "time_in_seconds": 1}}, "settings.frames"),
    ({"project": "not-an-id"}, "project"),
    ({"manager": 12}, "manager"),
    ({"priority": 500}, "priority"),
    ({"name": ""}, "name"),
    ({"status": "completed"}, "status"),
    ({"settings": {"frames": "1", "chunk_size": 1, "time_in_seconds": 1, "$set": 1}}, "settings"),
    ({"settings": {"frames": "1", "chunk_size": 1, "time_in_seconds": 1, "a": [{"$inc": 1}]}}, "settings.a"),
])
def test_invalid_submissions_are_4xx_with_field(world, change, field):
    resp = submit(world, **change)
    assert resp.status_code in (400, 422), resp.get_json()
    body = resp.get_json()
    assert body["_status"] == "ERR" and body["_code"] == resp.status_code
    assert field in body["_issues"], body
    assert world.db["flamenco_jobs"].count_documents({}) == 0
    assert world.db["flamenco_tasks"].count_documents({}) == 0


def test_missing_required_fields(world):
    resp = world.api("alice").post(JOBS, json={"name": "x"})
    assert resp.status_code == 422
    assert {"job_type", "project", "manager"} <= set(resp.get_json()["_issues"])


def test_malformed_json_body_is_400(world):
    resp = world.api("alice").post(JOBS, data="{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["_status"] == "ERR"


def test_waiting_for_files_then_construct(world):
    settings = {"frames": "1-4", "chunk_size": 2, "render_output": "/render/out/####"}
    resp = submit(world, job_type="blender-render", status="waiting-for-files", settings=settings)
    assert resp.status_code == 201, resp.get_json()
    job_id = resp.get_json()["_id"]
    job = world.db["flamenco_jobs"].find_one()
    assert job["status"] == "waiting-for-files" and tasks_of(world, job["_id"]) == []
    api = world.api("alice")
    no_file = api.patch(f"{JOBS}/{job_id}", json={"op": "construct"})
    assert no_file.status_code == 422 and "settings.filepath" in no_file.get_json()["_issues"]
    resp = api.patch(f"{JOBS}/{job_id}", json={"op": "construct", "settings": {"filepath": "/shot/a.blend"}})
    assert resp.status_code == 204
    job = world.db["flamenco_jobs"].find_one()
    assert job["status"] == "queued"
    assert job["settings"]["filepath"] == "/shot/a.blend"
    assert len(tasks_of(world, job["_id"])) == 3  # two render chunks + move-to-final
    again = api.patch(f"{JOBS}/{job_id}", json={"op": "construct"})
    assert again.status_code == 409 and "status" in again.get_json()["_issues"]


def test_failed_compilation_leaves_no_tasks(world):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status="under-construction",
                     job_type="blender-render", settings={"frames": "1-4", "chunk_size": 2,
                                                          "render_output": "/out/####"})
    insert_task(world.db, job, status="under-construction", name="debris")
    assert construction.construct_inline(world.db, job["_id"], reason="test") == "construction-failed"
    stored = world.db["flamenco_jobs"].find_one({"_id": job["_id"]})
    assert stored["status"] == "construction-failed"
    assert "filepath" in stored["status_reason"] and stored["status_reason"].startswith("test;")
    assert tasks_of(world, job["_id"]) == []


def test_make_job_helper_compiles(world):
    job = make_job(world.db, world.project_a, world.manager_a, world.alice)
    assert job["status"] == "queued"
    assert len(tasks_of(world, job["_id"])) == 3


@pytest.mark.parametrize("status,allowed", [("completed", True), ("canceled", True), ("failed", True),
                                            ("active", False), ("queued", False), ("archiving", False)])
def test_delete_job_only_when_finished_and_removes_tasks_and_logs(world, status, allowed):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status=status)
    task = insert_task(world.db, job, status="completed")
    insert_task_log(world.db, task)
    api = world.api("alice")
    etag = api.get(f"{JOBS}/{job['_id']}").headers["ETag"]
    resp = api.delete(f"{JOBS}/{job['_id']}", headers={"If-Match": etag})
    if allowed:
        assert resp.status_code == 204
        assert world.db["flamenco_jobs"].count_documents({}) == 0
        assert world.db["flamenco_tasks"].count_documents({}) == 0
        assert world.db["flamenco_task_logs"].count_documents({}) == 0
    else:
        assert resp.status_code == 409 and "status" in resp.get_json()["_issues"]
        assert world.db["flamenco_tasks"].count_documents({}) == 1


def test_delete_needs_use_rights(world):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status="completed")
    etag = world.api("vera").get(f"{JOBS}/{job['_id']}").headers["ETag"]
    assert world.api("vera").delete(f"{JOBS}/{job['_id']}", headers={"If-Match": etag}).status_code == 403
    assert world.api("bob").delete(f"{JOBS}/{job['_id']}", headers={"If-Match": etag}).status_code == 404
    assert world.db["flamenco_jobs"].count_documents({}) == 1


def test_listing_shows_submitted_job_to_project_only(world):
    submit(world)
    assert len(world.api("alice").get(JOBS).get_json()["_items"]) == 1
    assert world.api("bob").get(JOBS).get_json()["_items"] == []
    where = json.dumps({"status": "queued"})
    assert len(world.api("vera").get(JOBS, query={"where": where}).get_json()["_items"]) == 1


def test_construct_rejects_unstorable_setting_keys(world):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice, status="waiting-for-files",
                     settings={"frames": "1-2", "chunk_size": 1, "time_in_seconds": 1})
    resp = world.api("alice").patch(f"{JOBS}/{job['_id']}", json={"op": "construct", "settings": {"a.b": 1}})
    assert resp.status_code == 422 and "settings" in resp.get_json()["_issues"]
    assert world.db["flamenco_jobs"].find_one({"_id": job["_id"]})["status"] == "waiting-for-files"



def test_task_counts_of_a_job(world):
    """GET .../task-counts answers the job's tasks per status to callers who may see the job."""
    job_id = submit(world).get_json()["_id"]
    resp = world.api("vera").get(f"{JOBS}/{job_id}/task-counts")
    assert resp.status_code == 200
    assert resp.get_json() == {"queued": 3}
    assert world.api("bob").get(f"{JOBS}/{job_id}/task-counts").status_code == 404
    assert world.api(None).get(f"{JOBS}/{job_id}/task-counts").status_code == 401
