"""Filtering and sorting only on fields the caller may read (issue 13, severe 1).

A plain member recovered the admin's bcrypt hash with
``where={"_id": <admin>, "password_hash": {"$lt": <prefix>}}``: the answer
(the admin's document or none) was a yes/no oracle on a field the API never
shows. Every resource must refuse such queries with a 400 naming the field,
however the field is reached: top level, inside $or/$and/$nor, as a dotted
path, or as a sort key.
"""
from __future__ import annotations

import json

import pytest

from tests.security.server_world import World, world  # noqa: F401

USERS = "/api/users"
TASKS = "/api/flamenco/tasks"
RESOURCES = ("/api/projects", USERS, "/api/flamenco/managers", "/api/flamenco/jobs", TASKS)


def _refused(resp, field: str) -> None:
    assert resp.status_code == 400, (resp.status_code, resp.get_json())
    body = resp.get_json()
    assert any(field in key or field in reason for key, reason in body["_issues"].items()), body
    assert field in body["_message"]


def _where(world: World, who: str, path: str, where: dict):
    return world.get(who, path, query_string={"where": json.dumps(where)})


def _hash_oracle(world: World, where_on_hash: dict) -> dict:
    """The attack of the report: the admin's id AND a condition on the hash."""
    return {"_id": str(world.admin["_id"]), **where_on_hash}


@pytest.mark.parametrize("where_on_hash", [
    {"password_hash": {"$lt": "$2b$"}},
    {"password_hash": {"$gte": "$2"}},
    {"$or": [{"password_hash": {"$lt": "$2b$"}}, {"_id": "5f0000000000000000000001"}]},
    {"$and": [{"password_hash": {"$exists": True}}]},
    {"$nor": [{"password_hash": {"$lt": "$2b$"}}]},
    {"$or": [{"$and": [{"password_hash": {"$lt": "$2b$"}}]}]},
    {"password_hash.0": "$"},
    {"password_hash": {"$not": {"$lt": "$2b$"}}},
    {"service.flamenco_manager": {"$exists": True}},
    {"auth": {"$elemMatch": {"provider": "local"}}},
], ids=lambda w: json.dumps(w)[:40])
def test_member_cannot_filter_users_on_hidden_fields(world: World, where_on_hash: dict) -> None:
    # The admin shares no project with the member, but the member does see
    # themselves: point the query at both so visibility is not what stops it.
    resp = _where(world, "member", USERS, _hash_oracle(world, where_on_hash))
    hidden = next(f for f in ("password_hash", "service", "auth") if f in json.dumps(where_on_hash))
    _refused(resp, hidden)


def test_even_admins_cannot_filter_on_password_hashes(world: World) -> None:
    resp = _where(world, "admin", USERS, _hash_oracle(world, {"password_hash": {"$lt": "$2b$"}}))
    _refused(resp, "password_hash")


@pytest.mark.parametrize("sort", ["password_hash", "-password_hash", '[("password_hash", 1)]',
                                  "username,-password_hash", "email"])
def test_member_cannot_sort_users_on_hidden_fields(world: World, sort: str) -> None:
    resp = world.get("member", USERS, query_string={"sort": sort})
    _refused(resp, "password_hash" if "password_hash" in sort else "email")


def test_email_addresses_cannot_be_tested_by_others(world: World) -> None:
    """Others' e-mail addresses are never shown to a member, so no filter on them either."""
    resp = _where(world, "member", USERS, {"email": "admin@example.com"})
    _refused(resp, "email")
    # An admin sees every address and may filter on it.
    resp = _where(world, "admin", USERS, {"email": "member@example.com"})
    assert resp.status_code == 200
    assert [u["username"] for u in resp.get_json()["_items"]] == ["member"]


def test_viewer_cannot_filter_or_sort_tasks_on_the_log(world: World) -> None:
    _refused(_where(world, "viewer", TASKS, {"log": {"$gt": "Saved"}}), "log")
    _refused(_where(world, "viewer", TASKS, {"$or": [{"log": {"$gt": "S"}}]}), "log")
    _refused(world.get("viewer", TASKS, query_string={"sort": "-log"}), "log")
    # A member with flamenco-view-logs reads logs, so may filter on them.
    assert _where(world, "member", TASKS, {"log": {"$gt": "Saved"}}).status_code == 200


@pytest.mark.parametrize("path", RESOURCES)
def test_every_resource_refuses_fields_it_does_not_show(world: World, path: str) -> None:
    _refused(_where(world, "admin", path, {"not_shown": 1}), "not_shown")
    _refused(_where(world, "admin", path, {"$or": [{"not_shown.deep": 1}]}), "not_shown")
    _refused(world.get("admin", path, query_string={"sort": "not_shown"}), "not_shown")


@pytest.mark.parametrize("path,where,sort", [
    ("/api/flamenco/jobs", {"status": "queued", "priority": {"$gte": 1}}, "-priority,_id"),
    (TASKS, {"job": "5f0000000000000000000001", "status": {"$in": ["queued"]}}, '[("priority", -1)]'),
    ("/api/projects", {"members.user": "5f0000000000000000000001"}, "name"),
    ("/api/flamenco/managers", {"projects": {"$elemMatch": {"$eq": "5f0000000000000000000001"}}}, "-_updated"),
    (USERS, {"username": "member", "roles": {"$all": ["flamenco-user"]}}, "username"),
])
def test_readable_fields_can_still_be_filtered_and_sorted(world: World, path: str, where: dict,
                                                          sort: str) -> None:
    resp = world.get("member", path, query_string={"where": json.dumps(where), "sort": sort})
    assert resp.status_code == 200, resp.get_json()
