"""PATCH operations on tasks: status changes, requeue, log-file requests."""
from __future__ import annotations

import pytest

from tests.server.docs import insert_job, insert_task


@pytest.fixture
def job(world):
    return insert_job(world.db, world.project_a, world.manager_a, world.alice, status="active")


def url(task) -> str:
    return f"/api/flamenco/tasks/{task['_id']}"


def status_of(world, task) -> str:
    return world.db["flamenco_tasks"].find_one({"_id": task["_id"]})["status"]


def test_requeue_a_failed_task_via_set_task_status(world, job):
    task = insert_task(world.db, job, status="failed", failed_by_workers=[{"id": job["_id"], "identifier": "w"}])
    insert_task(world.db, job, status="active")
    resp = world.api("alice").patch(url(task), json={"op": "set-task-status", "status": "queued"})
    assert resp.status_code == 204
    doc = world.db["flamenco_tasks"].find_one({"_id": task["_id"]})
    assert doc["status"] == "queued" and "failed_by_workers" not in doc


def test_illegal_task_transition_is_409_with_reason(world, job):
    task = insert_task(world.db, job, status="completed")
    resp = world.api("alice").patch(url(task), json={"op": "set-task-status", "status": "active"})
    assert resp.status_code == 409
    assert "status" in resp.get_json()["_issues"]
    unknown = world.api("alice").patch(url(task), json={"op": "set-task-status", "status": "sleeping"})
    assert unknown.status_code == 409 and "status" in unknown.get_json()["_issues"]
    missing = world.api("alice").patch(url(task), json={"op": "set-task-status"})
    assert missing.status_code == 422 and "status" in missing.get_json()["_issues"]
    assert status_of(world, task) == "completed"


def test_viewer_and_other_project_cannot_change_tasks(world, job):
    task = insert_task(world.db, job, status="failed")
    assert world.api("vera").patch(url(task), json={"op": "requeue"}).status_code == 403
    assert world.api("bob").patch(url(task), json={"op": "requeue"}).status_code == 404
    assert world.api("manager_a").patch(url(task), json={"op": "requeue"}).status_code == 403
    assert status_of(world, task) == "failed"


def test_requeue_task_with_successors(world, job):
    parent = insert_task(world.db, job, status="completed", name="parent")
    child = insert_task(world.db, job, status="canceled", name="child", parents=[parent["_id"]])
    resp = world.api("alice").patch(url(parent), json={"op": "requeue"})
    assert resp.status_code == 204
    assert status_of(world, parent) == "queued" and status_of(world, child) == "queued"


def test_request_task_log_file(world, job):
    task = insert_task(world.db, job, status="completed")
    resp = world.api("alice").patch(url(task), json={"op": "request-task-log-file"})
    assert resp.status_code == 204
    queue = world.db["flamenco_managers"].find_one({"_id": world.manager_a["_id"]})["upload_task_file_queue"]
    assert queue == [{"job": job["_id"], "task": task["_id"]}]


def test_request_task_log_file_when_present_is_409_with_location(world, job):
    task = insert_task(world.db, job, status="failed", log_file={"backend": "local", "file_path": "x.gz"})
    resp = world.api("alice").patch(url(task), json={"op": "request-task-log-file"})
    assert resp.status_code == 409
    assert resp.headers["Location"] == f"/flamenco/{world.project_a['url']}/tasks/{task['_id']}.log.gz"
    forced = world.api("alice").patch(url(task), json={"op": "request-task-log-file", "force_rerequest": True})
    assert forced.status_code == 204


def test_request_task_log_file_of_queued_task_is_400(world, job):
    task = insert_task(world.db, job, status="queued")
    resp = world.api("alice").patch(url(task), json={"op": "request-task-log-file"})
    assert resp.status_code == 400 and "status" in resp.get_json()["_issues"]
