"""Manager auth (who may call what) and the startup/update notifications."""
from __future__ import annotations

from bson import ObjectId

from tests.server.manager_api.conftest import basic_auth

V2_NOTIFICATION = {
    "_meta": {"version": 2},
    "manager_url": "http://manager.local:8083/",
    "variables": {"blender": {"direction": "oneway", "values": [
        {"audience": "all", "platform": "linux", "value": "/usr/bin/blender"}]}},
    "nr_of_workers": 3,
    "worker_task_types": ["sleep", "blender-render"],
}


def test_startup_as_basic_auth_stores_v2_settings(world, mgr_a):
    world.db["flamenco_managers"].update_one({"_id": mgr_a.manager["_id"]},
                                             {"$set": {"path_replacement": {"x": {"linux": "/x"}}}})
    resp = mgr_a.post("/startup", json=V2_NOTIFICATION)
    assert resp.status_code == 204, resp.json
    doc = world.db["flamenco_managers"].find_one({"_id": mgr_a.manager["_id"]})
    assert doc["url"] == "http://manager.local:8083/"
    assert doc["settings_version"] == 2
    assert doc["stats"]["nr_of_workers"] == 3
    assert doc["worker_task_types"] == ["sleep", "blender-render"]
    assert doc["variables"]["blender"]["values"][0]["value"] == "/usr/bin/blender"
    assert "path_replacement" not in doc


def test_update_v1_stores_path_replacement_and_keeps_task_types(world, mgr_a):
    world.db["flamenco_managers"].update_one({"_id": mgr_a.manager["_id"]},
                                             {"$set": {"worker_task_types": ["sleep"]}})
    v1 = {"manager_url": "http://m/", "variables": {"blender": {"linux": "/bin/blender"}},
          "path_replacement": {"render": {"linux": "/render"}}, "nr_of_workers": 1}
    resp = world.client.post(f"{mgr_a.base}/update", json=v1,
                             headers={"Authorization": f"Bearer {mgr_a.token}"})
    assert resp.status_code == 204
    doc = world.db["flamenco_managers"].find_one({"_id": mgr_a.manager["_id"]})
    assert doc["settings_version"] == 1
    assert doc["path_replacement"] == {"render": {"linux": "/render"}}
    assert doc["worker_task_types"] == ["sleep"]


def test_notification_errors_name_the_field(mgr_a):
    resp = mgr_a.post("/startup", data=b"", content_type="application/json")
    assert resp.status_code == 400
    assert resp.json["_message"] == "no JSON payload received"
    missing = {k: v for k, v in V2_NOTIFICATION.items() if k != "nr_of_workers"}
    resp = mgr_a.post("/startup", json=missing)
    assert resp.status_code == 400
    assert "nr_of_workers" in resp.json["_issues"]
    resp = mgr_a.post("/startup", json={**V2_NOTIFICATION, "_meta": {"version": 7}})
    assert resp.status_code == 400 and "_meta.version" in resp.json["_issues"]
    resp = mgr_a.post("/startup", json={**V2_NOTIFICATION, "worker_task_types": "sleep"})
    assert resp.status_code == 400 and "worker_task_types" in resp.json["_issues"]
    resp = mgr_a.post("/startup", json={k: v for k, v in V2_NOTIFICATION.items() if k != "_meta"})
    assert resp.status_code == 400 and "path_replacement" in resp.json["_issues"]


def test_anonymous_is_401(world, mgr_a):
    resp = world.client.get(f"{mgr_a.base}/depsgraph")
    assert resp.status_code == 401


def test_user_token_is_403(world, mgr_a):
    resp = world.client.get(f"{mgr_a.base}/depsgraph", headers=basic_auth(world.tokens["alice"]))
    assert resp.status_code == 403


def test_manager_cannot_act_as_another_manager(world, mgr_a, mgr_b):
    resp = world.client.post(f"{mgr_a.base}/startup", json=V2_NOTIFICATION, headers=basic_auth(mgr_b.token))
    assert resp.status_code == 403
    doc = world.db["flamenco_managers"].find_one({"_id": mgr_a.manager["_id"]})
    assert "url" not in doc


def test_bad_and_unknown_manager_ids(world, mgr_a):
    headers = basic_auth(mgr_a.token)
    assert world.client.get("/api/flamenco/managers/nonsense/depsgraph", headers=headers).status_code == 400
    assert world.client.get(f"/api/flamenco/managers/{ObjectId()}/depsgraph", headers=headers).status_code == 404


def test_revoked_token_is_401(world, mgr_a):
    world.db["tokens"].delete_many({"user": mgr_a.manager["service_account"]})
    assert mgr_a.get("/depsgraph").status_code == 401


def test_keys_the_database_cannot_store_are_a_400(world, mgr_a):
    bad = {**V2_NOTIFICATION, "variables": {"render.path": {"direction": "oneway", "values": []}}}
    resp = mgr_a.post("/startup", json=bad)
    assert resp.status_code == 400
    assert "render.path" in resp.json["_issues"]["variables"]
    v1 = {"manager_url": "http://m/", "variables": {}, "path_replacement": {"x": {"$linux": "/x"}},
          "nr_of_workers": 1}
    resp = mgr_a.post("/update", json=v1)
    assert resp.status_code == 400 and "path_replacement" in resp.json["_issues"]
