"""The notifications REST API: who may use it, what it refuses, what it stores.

Runs the app in-process on this test's real database, with Celery off (so
queued deliveries are logged as ``not-queued``); real delivery is in
test_delivery.py and test_real_processes.py.
"""
from __future__ import annotations

import pytest
from bson import ObjectId

from flamenco import status
from flamenco.notifications import crypto, defaults
from tests.server.conftest import World
from tests.support.server import make_job
from tests.support.task_counts import force_tasks

RECEIVER = "https://ci.example.com/flamenco-hook"


def base(world: World, project: str = "project_a") -> str:
    return f"/api/flamenco/projects/{getattr(world, project)['_id']}"


def create(world: World, who: str = "alice", url: str = RECEIVER):
    return world.api(who).post(base(world) + "/webhooks", json={"url": url})


def test_admin_creates_webhook_and_sees_the_secret_once(world: World, app):
    resp = create(world)
    assert resp.status_code == 201, resp.json
    secret = resp.json["secret"]
    assert secret.startswith("whsec_")
    assert resp.json["url"] == RECEIVER

    listing = world.api("alice").get(base(world) + "/webhooks")
    assert listing.status_code == 200
    [item] = listing.json["_items"]
    assert item["_id"] == resp.json["_id"]
    assert "secret" not in item and "secret_encrypted" not in item
    assert secret not in listing.get_data(as_text=True)

    stored = world.db[defaults.WEBHOOKS].find_one({"_id": ObjectId(item["_id"])})
    assert secret not in str(stored)
    assert crypto.decrypt(app.config["SECRET_KEY"], stored["secret_encrypted"]) == secret


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "gopher://127.0.0.1:6379/"}, "url"),
    ({}, "url"),
    ({"url": RECEIVER, "secret": "mine"}, "secret"),
])
def test_invalid_webhooks_are_refused_naming_the_field(world: World, body, field):
    resp = world.api("alice").post(base(world) + "/webhooks", json=body)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["_issues"]
    assert world.db[defaults.WEBHOOKS].count_documents({}) == 0


def test_non_json_body_is_a_400(world: World):
    resp = world.api("alice").post(base(world) + "/webhooks", data="url=x",
                                   headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.json["_status"] == "ERR"


def test_allowed_hosts_setting_is_enforced(world: World, app):
    app.config["WEBHOOK_ALLOWED_HOSTS"] = ["*.example.com"]
    assert create(world, url="http://127.0.0.1:6379/").status_code == 422
    assert create(world).status_code == 201


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/webhooks", None),
    ("POST", "/webhooks", {"url": RECEIVER}),
    ("GET", "/notification-settings", None),
    ("PATCH", "/notification-settings", {"task_failures": True}),
    ("GET", "/notification-deliveries", None),
])
def test_only_project_admins_may_use_the_api(world: World, method, path, body):
    url = base(world) + path
    assert world.api("vera").request(method, url, json=body).status_code == 403   # viewer of A
    assert world.api("bob").request(method, url, json=body).status_code == 404    # not in A
    assert world.api("manager_a").request(method, url, json=body).status_code == 404  # a Manager of A
    assert world.api(None).request(method, url, json=body).status_code == 401
    assert world.api("root").request(method, url, json=body).status_code in (200, 201)
    assert world.api("alice").request(method, url, json=body).status_code in (200, 201)


def test_non_admins_cannot_read_the_log_or_a_secret(world: World):
    created = create(world)
    assert world.api("alice").post(f"{base(world)}/webhooks/{created.json['_id']}/test").status_code == 202
    for who, code in (("vera", 403), ("bob", 404)):
        log = world.api(who).get(base(world) + "/notification-deliveries")
        assert log.status_code == code
        assert created.json["secret"] not in log.get_data(as_text=True)
        assert "_items" not in log.json
    assert len(world.api("alice").get(base(world) + "/notification-deliveries").json["_items"]) == 1


def test_malformed_ids_are_400s_naming_them(world: World):
    assert world.api("alice").get("/api/flamenco/projects/nope/webhooks").json["_issues"] == {
        "project_id": "must be a 24-character hex ObjectId"}
    resp = world.api("alice").delete(base(world) + "/webhooks/nope")
    assert resp.status_code == 400 and "webhook_id" in resp.json["_issues"]
    resp = world.api("alice").get(base(world) + "/notification-deliveries", query={"page": "0"})
    assert resp.status_code == 400 and "page" in resp.json["_issues"]


def test_delete_only_within_the_project(world: World):
    webhook_id = create(world).json["_id"]
    # Through another project, even a superuser finds no such webhook.
    assert world.api("root").delete(f"{base(world, 'project_b')}/webhooks/{webhook_id}").status_code == 404
    assert world.api("alice").delete(f"{base(world)}/webhooks/{webhook_id}").status_code == 204
    assert world.api("alice").delete(f"{base(world)}/webhooks/{webhook_id}").status_code == 404
    assert world.db[defaults.WEBHOOKS].count_documents({}) == 0


def test_settings_are_validated_and_saved(world: World):
    url = base(world) + "/notification-settings"
    assert world.api("alice").get(url).json == {"email_recipients": [], "task_failures": False}
    bad = world.api("alice").patch(url, json={"email_recipients": ["ok@example.com", "not an address"]})
    assert bad.status_code == 422 and "email_recipients" in bad.json["_issues"]
    bad = world.api("alice").patch(url, json={"task_failures": "yes"})
    assert bad.status_code == 422 and "task_failures" in bad.json["_issues"]
    bad = world.api("alice").patch(url, json={"smtp_host": "evil"})
    assert bad.status_code == 422 and "smtp_host" in bad.json["_issues"]
    ok = world.api("alice").patch(url, json={"email_recipients": ["lead@example.com"], "task_failures": True})
    assert ok.status_code == 200
    assert world.api("alice").get(url).json == {"email_recipients": ["lead@example.com"], "task_failures": True}


def test_test_email_needs_an_smtp_server(world: World):
    world.api("alice").patch(base(world) + "/notification-settings", json={"email_recipients": ["a@example.com"]})
    resp = world.api("alice").post(base(world) + "/notification-settings/test-email")
    assert resp.status_code == 409 and "SMTP_HOST" in resp.json["_message"]


def complete_job(world: World, job: dict) -> None:
    """What a Manager's last task update does: the tasks complete, the job follows."""
    force_tasks(world.db, {"job": job["_id"]}, {"status": "completed"})
    status.update_job_after_task_status_change(world.db, job["_id"], "active")
    status.update_job_after_task_status_change(world.db, job["_id"], "completed")


def test_job_completion_logs_one_delivery_per_webhook(world: World, app):
    first, second = create(world).json, create(world, url="https://other.example.com/x").json
    job_a = make_job(world.db, world.project_a, world.manager_a, world.alice, name="Shot 010")
    job_b = make_job(world.db, world.project_b, world.manager_b, world.bob)
    with app.app_context():
        complete_job(world, job_a)
        complete_job(world, job_b)

    log = world.api("alice").get(base(world) + "/notification-deliveries").json["_items"]
    assert sorted(d["webhook"] for d in log) == sorted([first["_id"], second["_id"]])
    assert {d["event"] for d in log} == {"job.completed"}
    assert {d["state"] for d in log} == {"not-queued"}  # Celery is off in this app
    assert len({d["event_id"] for d in log}) == 1  # one event, two destinations
    stored = world.db[defaults.DELIVERIES].find_one({"webhook": ObjectId(first["_id"])})
    assert f'"id":"{job_a["_id"]}"' in stored["body"] and '"name":"Shot 010"' in stored["body"]
    assert world.db[defaults.DELIVERIES].count_documents({"project": world.project_b["_id"]}) == 0


def test_task_failures_only_when_the_project_asks(world: World, app):
    create(world)
    # 30 tasks: two failures stay under the 10% that fails the whole job.
    job = make_job(world.db, world.project_a, world.manager_a, world.alice,
                   settings={"frames": "1-30", "chunk_size": 1, "time_in_seconds": 1})
    first, second = world.db["flamenco_tasks"].find({"job": job["_id"]}).sort("_id", 1).limit(2)
    with app.app_context():
        status.set_task_status(world.db, first["_id"], "failed", actor=status.Actor.MANAGER)
    assert world.db[defaults.DELIVERIES].count_documents({}) == 0
    world.api("alice").patch(base(world) + "/notification-settings", json={"task_failures": True})
    with app.app_context():
        status.set_task_status(world.db, second["_id"], "failed", actor=status.Actor.MANAGER)
    [delivery] = world.db[defaults.DELIVERIES].find({})
    assert delivery["event"] == "task.failed"
    assert f'"id":"{second["_id"]}"' in delivery["body"]
