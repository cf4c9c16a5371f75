"""Who sees and changes what: project scoping, Manager confinement, anonymous access."""
from __future__ import annotations

import json

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.server.docs import insert_job, insert_task, insert_task_log


@pytest.fixture
def data(world):
    job_a = insert_job(world.db, world.project_a, world.manager_a, world.alice, name="job A")
    job_b = insert_job(world.db, world.project_b, world.manager_b, world.bob, name="job B")
    task_a = insert_task(world.db, job_a, name="task A")
    task_b = insert_task(world.db, job_b, name="task B")
    log_a = insert_task_log(world.db, task_a)
    return {"job_a": job_a, "job_b": job_b, "task_a": task_a, "task_b": task_b, "log_a": log_a}


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {item["_id"] for item in resp.get_json()["_items"]}


@pytest.mark.parametrize("path", ["/api/flamenco/jobs", "/api/flamenco/tasks", "/api/flamenco/managers",
                                  "/api/flamenco/task_logs", "/api/projects", "/api/users"])
def test_anonymous_is_401_everywhere(world, path):
    assert world.api(None).get(path).status_code == 401


def test_user_lists_only_jobs_and_tasks_of_own_projects(world, data):
    assert ids(world.api("alice").get("/api/flamenco/jobs")) == {str(data["job_a"]["_id"])}
    assert ids(world.api("bob").get("/api/flamenco/jobs")) == {str(data["job_b"]["_id"])}
    assert ids(world.api("alice").get("/api/flamenco/tasks")) == {str(data["task_a"]["_id"])}
    assert ids(world.api("vera").get("/api/flamenco/tasks")) == {str(data["task_a"]["_id"])}


def test_where_cannot_widen_the_scope(world, data):
    where = json.dumps({"project": str(world.project_b["_id"])})
    assert ids(world.api("alice").get("/api/flamenco/jobs", query={"where": where})) == set()
    where = json.dumps({"$or": [{"project": str(world.project_b["_id"])}, {"name": "job B"}]})
    assert ids(world.api("alice").get("/api/flamenco/jobs", query={"where": where})) == set()


def test_user_cannot_get_other_projects_items(world, data):
    api = world.api("alice")
    assert api.get(f"/api/flamenco/jobs/{data['job_b']['_id']}").status_code == 404
    assert api.get(f"/api/flamenco/tasks/{data['task_b']['_id']}").status_code == 404
    assert api.get(f"/api/flamenco/managers/{world.manager_b['_id']}").status_code == 404
    assert api.get(f"/api/flamenco/jobs/{data['job_a']['_id']}").status_code == 200


def test_superuser_sees_everything(world, data):
    assert len(ids(world.api("root").get("/api/flamenco/jobs"))) == 2
    assert len(ids(world.api("root").get("/api/projects"))) == 2


def test_manager_sees_only_its_own_jobs_tasks_and_self(world, data):
    api = world.api("manager_a")
    assert ids(api.get("/api/flamenco/jobs")) == {str(data["job_a"]["_id"])}
    assert ids(api.get("/api/flamenco/tasks")) == {str(data["task_a"]["_id"])}
    assert ids(api.get("/api/flamenco/managers")) == {str(world.manager_a["_id"])}
    assert api.get(f"/api/flamenco/tasks/{data['task_b']['_id']}").status_code == 404
    assert api.get(f"/api/flamenco/managers/{world.manager_b['_id']}").status_code == 404


def test_manager_cannot_patch_another_managers_task(world, data):
    resp = world.api("manager_a").patch(f"/api/flamenco/tasks/{data['task_b']['_id']}",
                                        json={"op": "set-task-status", "status": "canceled"})
    assert resp.status_code == 404


def test_managers_listing_shows_owned_and_project_managers(world):
    assert ids(world.api("alice").get("/api/flamenco/managers")) == {str(world.manager_a["_id"])}
    assert ids(world.api("vera").get("/api/flamenco/managers")) == {str(world.manager_a["_id"])}
    assert ids(world.api("bob").get("/api/flamenco/managers")) == {str(world.manager_b["_id"])}


def test_projects_listing_is_membership(world):
    assert ids(world.api("alice").get("/api/projects")) == {str(world.project_a["_id"])}
    assert ids(world.api("manager_b").get("/api/projects")) == {str(world.project_b["_id"])}


def test_users_resource_never_shows_secrets(world, mongo_db):
    from tests.support.server import make_user
    make_user(mongo_db, "pw", password="s3cret")
    resp = world.api("alice").get("/api/users", query={"projection": json.dumps({"password_hash": 1})})
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "password_hash" not in text and "$2b$" not in text
    resp = world.api("alice").get("/api/users")
    assert "password_hash" not in resp.get_data(as_text=True)
    items = {u["username"]: u for u in resp.get_json()["_items"]}
    assert "email" not in items.get("bob", {}) or not items["bob"]["email"]
    me = world.api("alice").get(f"/api/users/{world.alice['_id']}").get_json()
    assert me["email"] == "alice@example.com"
    other = world.api("bob").get(f"/api/users/{world.alice['_id']}").get_json()
    assert "email" not in other


def test_task_logs_need_a_visible_task_filter(world, data):
    api = world.api("alice")
    resp = api.get("/api/flamenco/task_logs")
    assert resp.status_code == 400 and "where" in resp.get_json()["_issues"]
    where_a = json.dumps({"task": str(data["task_a"]["_id"])})
    assert ids(api.get("/api/flamenco/task_logs", query={"where": where_a})) == {str(data["log_a"]["_id"])}
    where_b = json.dumps({"task": str(data["task_b"]["_id"])})
    assert world.api("bob").get("/api/flamenco/task_logs", query={"where": where_a}).status_code == 404
    assert ids(world.api("bob").get("/api/flamenco/task_logs", query={"where": where_b})) == set()
    assert world.api("bob").get(f"/api/flamenco/task_logs/{data['log_a']['_id']}").status_code == 404
    assert api.get(f"/api/flamenco/task_logs/{data['log_a']['_id']}").status_code == 200


def test_viewer_without_log_capability_cannot_read_logs(world, data):
    where_a = json.dumps({"task": str(data["task_a"]["_id"])})
    assert world.api("vera").get("/api/flamenco/task_logs", query={"where": where_a}).status_code == 403


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/api/flamenco/jobs"), ("DELETE", "/api/flamenco/tasks"), ("DELETE", "/api/flamenco/managers"),
    ("POST", "/api/flamenco/tasks"), ("POST", "/api/flamenco/managers"), ("POST", "/api/flamenco/task_logs"),
    ("PUT", "/api/flamenco/jobs/{job}"), ("DELETE", "/api/flamenco/tasks/{task}"),
])
def test_disabled_methods_are_405(world, data, method, path):
    path = path.format(job=data["job_a"]["_id"], task=data["task_a"]["_id"])
    resp = world.api("root").request(method, path, json={})
    assert resp.status_code == 405
    assert resp.get_json()["_status"] == "ERR"
    assert method not in resp.headers["Allow"].split(", ") and "GET" in resp.headers["Allow"]


def test_users_listing_is_limited_to_project_members(world):
    names = lambda who: {u["username"] for u in world.api(who).get("/api/users").get_json()["_items"]}  # noqa: E731
    assert names("alice") == {"alice", "vera"}
    assert names("bob") == {"bob"}
    assert len(names("root")) >= 6
    assert world.api("manager_a").get("/api/users").get_json()["_items"][0]["username"].startswith("SRV-")
    assert len(world.api("manager_a").get("/api/users").get_json()["_items"]) == 1


def test_session_requests_need_csrf_for_writes(world, app):
    job = insert_job(world.db, world.project_a, world.manager_a, world.alice)
    with world.client.session_transaction() as session:
        session["_user_id"] = str(world.alice["_id"])
        session["_fresh"] = True
    assert world.client.get("/api/flamenco/jobs").status_code == 200
    resp = world.client.patch(f"/api/flamenco/jobs/{job['_id']}", json={"op": "set-job-priority", "priority": 60})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_json()["_message"]
    assert world.db["flamenco_jobs"].find_one({"_id": job["_id"]})["priority"] == 50
    # With the token Flask-WTF would have put in the page, the write goes through.
    with world.client.session_transaction() as session:
        session["csrf_token"] = "raw-csrf-secret"
    signed = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token").dumps("raw-csrf-secret")
    resp = world.client.patch(f"/api/flamenco/jobs/{job['_id']}", json={"op": "set-job-priority", "priority": 60},
                              headers={"X-CSRFToken": signed})
    assert resp.status_code == 204
    assert world.db["flamenco_jobs"].find_one({"_id": job["_id"]})["priority"] == 60
