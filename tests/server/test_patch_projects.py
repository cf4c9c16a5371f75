"""PATCH operations on projects: membership management by project admins."""
from __future__ import annotations

from tests.support.server import make_user


def url(project) -> str:
    return f"/api/projects/{project['_id']}"


def members(world, project) -> dict:
    doc = world.db["projects"].find_one({"_id": project["_id"]})
    return {m["user"]: m["role"] for m in doc["members"]}


def test_admin_adds_changes_and_removes_members(world):
    api = world.api("alice")
    assert api.patch(url(world.project_a), json={"op": "set-member", "user": str(world.bob["_id"]),
                                                 "role": "member"}).status_code == 204
    assert members(world, world.project_a)[world.bob["_id"]] == "member"
    # bob now sees project A's Manager.
    assert len(world.api("bob").get("/api/flamenco/managers").get_json()["_items"]) == 2
    assert api.patch(url(world.project_a), json={"op": "set-member", "user": str(world.bob["_id"]),
                                                 "role": "viewer"}).status_code == 204
    assert members(world, world.project_a)[world.bob["_id"]] == "viewer"
    assert api.patch(url(world.project_a), json={"op": "remove-member",
                                                 "user": str(world.bob["_id"])}).status_code == 204
    assert world.bob["_id"] not in members(world, world.project_a)


def test_members_and_viewers_cannot_manage_membership(world):
    carl = make_user(world.db, "carl")
    body = {"op": "set-member", "user": str(carl["_id"]), "role": "admin"}
    assert world.api("vera").patch(url(world.project_a), json=body).status_code == 403
    assert world.api("bob").patch(url(world.project_b), json=body).status_code == 403
    assert world.api("bob").patch(url(world.project_a), json=body).status_code == 404
    assert world.api("manager_a").patch(url(world.project_a), json=body).status_code == 403
    assert carl["_id"] not in members(world, world.project_a)


def test_membership_input_errors(world):
    api = world.api("alice")
    bad_role = api.patch(url(world.project_a), json={"op": "set-member", "user": str(world.bob["_id"]),
                                                     "role": "owner"})
    assert bad_role.status_code == 422 and "role" in bad_role.get_json()["_issues"]
    bad_id = api.patch(url(world.project_a), json={"op": "set-member", "user": "bob", "role": "member"})
    assert bad_id.status_code == 400 and "user" in bad_id.get_json()["_issues"]
    last_admin = api.patch(url(world.project_a), json={"op": "remove-member", "user": str(world.alice["_id"])})
    assert last_admin.status_code == 409
    demote = api.patch(url(world.project_a), json={"op": "set-member", "user": str(world.alice["_id"]),
                                                   "role": "member"})
    assert demote.status_code == 409
    assert members(world, world.project_a)[world.alice["_id"]] == "admin"
