"""PATCH operations on Managers: project assignment, editing, ownership."""
from __future__ import annotations

from tests.support.server import make_project, make_user


def url(manager) -> str:
    return f"/api/flamenco/managers/{manager['_id']}"


def reload(world, manager) -> dict:
    return world.db["flamenco_managers"].find_one({"_id": manager["_id"]})


def test_owner_assigns_manager_to_project_they_administer(world):
    project_c = make_project(world.db, "Project C", members=[(world.alice, "admin")])
    before = reload(world, world.manager_a)["_etag"]
    resp = world.api("alice").patch(url(world.manager_a), json={"op": "assign-to-project",
                                                                "project": str(project_c["_id"])})
    assert resp.status_code == 204
    after = reload(world, world.manager_a)
    assert project_c["_id"] in after["projects"] and world.project_a["_id"] in after["projects"]
    assert after["_etag"] != before


def test_assign_needs_project_admin_rights(world):
    resp = world.api("alice").patch(url(world.manager_a), json={"op": "assign-to-project",
                                                                "project": str(world.project_b["_id"])})
    assert resp.status_code == 403
    assert world.project_b["_id"] not in reload(world, world.manager_a)["projects"]


def test_assign_unknown_or_malformed_project(world):
    api = world.api("alice")
    resp = api.patch(url(world.manager_a), json={"op": "assign-to-project", "project": "zzz"})
    assert resp.status_code == 400 and "project" in resp.get_json()["_issues"]
    resp = api.patch(url(world.manager_a), json={"op": "assign-to-project", "project": "a" * 24})
    assert resp.status_code == 404


def test_non_owner_cannot_change_a_visible_manager(world):
    # vera sees Manager A through project A but does not own it.
    resp = world.api("vera").patch(url(world.manager_a), json={"op": "edit-from-web", "name": "x"})
    assert resp.status_code == 403
    # bob cannot even see it.
    resp = world.api("bob").patch(url(world.manager_a), json={"op": "edit-from-web", "name": "x"})
    assert resp.status_code == 404


def test_manager_cannot_edit_itself(world):
    resp = world.api("manager_a").patch(url(world.manager_a), json={"op": "edit-from-web", "name": "x"})
    assert resp.status_code == 403


def test_remove_from_project(world):
    resp = world.api("alice").patch(url(world.manager_a), json={"op": "remove-from-project",
                                                                "project": str(world.project_a["_id"])})
    assert resp.status_code == 204
    assert reload(world, world.manager_a)["projects"] == []


def test_edit_from_web_validates_fields(world):
    api = world.api("alice")
    resp = api.patch(url(world.manager_a), json={"op": "edit-from-web", "name": "", "description": "d" * 2000})
    assert resp.status_code == 422
    issues = resp.get_json()["_issues"]
    assert set(issues) == {"name", "description"}
    resp = api.patch(url(world.manager_a), json={"op": "edit-from-web", "name": "Renamed", "description": "new"})
    assert resp.status_code == 204
    doc = reload(world, world.manager_a)
    assert (doc["name"], doc["description"]) == ("Renamed", "new")


def test_share_and_unshare_ownership(world):
    api = world.api("alice")
    resp = api.patch(url(world.manager_a), json={"op": "change-ownership", "action": "share",
                                                 "user": str(world.bob["_id"])})
    assert resp.status_code == 204
    assert world.bob["_id"] in reload(world, world.manager_a)["owner_users"]
    # bob is an owner now and may unshare alice.
    resp = world.api("bob").patch(url(world.manager_a), json={"op": "change-ownership", "action": "unshare",
                                                              "user": str(world.alice["_id"])})
    assert resp.status_code == 204
    assert reload(world, world.manager_a)["owner_users"] == [world.bob["_id"]]
    resp = world.api("bob").patch(url(world.manager_a), json={"op": "change-ownership", "action": "unshare",
                                                              "user": str(world.bob["_id"])})
    assert resp.status_code == 400
    assert "ownerless" in resp.get_json()["_message"]


def test_share_rules(world):
    api = world.api("alice")
    me = api.patch(url(world.manager_a), json={"op": "change-ownership", "action": "share",
                                               "user": str(world.alice["_id"])})
    assert me.status_code == 400
    viewer = api.patch(url(world.manager_a), json={"op": "change-ownership", "action": "share",
                                                   "user": str(world.vera["_id"])})
    assert viewer.status_code == 403
    bad = api.patch(url(world.manager_a), json={"op": "change-ownership", "action": "steal",
                                                "user": str(world.bob["_id"])})
    assert bad.status_code == 400 and "action" in bad.get_json()["_issues"]
    ghost = make_user(world.db, "ghost")
    world.db["users"].delete_one({"_id": ghost["_id"]})
    gone = api.patch(url(world.manager_a), json={"op": "change-ownership", "action": "share",
                                                 "user": str(ghost["_id"])})
    assert gone.status_code == 404


def test_patch_request_errors(world):
    api = world.api("alice")
    missing = api.patch(url(world.manager_a), json={})
    assert missing.status_code == 400 and "op" in missing.get_json()["_issues"]
    unknown = api.patch(url(world.manager_a), json={"op": "explode"})
    assert unknown.status_code == 400 and "op" in unknown.get_json()["_issues"]
    malformed = api.patch(url(world.manager_a), data="{nope", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and "JSON" in malformed.get_json()["_message"]
    not_object = api.patch(url(world.manager_a), json=[1, 2])
    assert not_object.status_code == 400
    assert world.api(None).patch(url(world.manager_a), json={"op": "edit-from-web"}).status_code == 401
