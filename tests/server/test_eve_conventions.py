"""Eve list/item conventions and input errors on the Flamenco resources."""
from __future__ import annotations

import json

import pytest

from tests.server.docs import insert_job, insert_task


@pytest.fixture
def jobs(world):
    return [insert_job(world.db, world.project_a, world.manager_a, world.alice, name=f"job {i}",
                       priority=10 * (i + 1), status="queued" if i % 2 else "paused")
            for i in range(5)]


def test_where_sort_projection_paging(world, jobs):
    api = world.api("alice")
    resp = api.get("/api/flamenco/jobs", query={"where": json.dumps({"status": "paused"}), "sort": "-priority",
                                                "projection": json.dumps({"name": 1})})
    body = resp.get_json()
    assert resp.status_code == 200
    assert [j["name"] for j in body["_items"]] == ["job 4", "job 2", "job 0"]
    assert all("priority" not in j for j in body["_items"])
    page2 = api.get("/api/flamenco/jobs", query={"sort": "priority", "max_results": 2, "page": 2}).get_json()
    assert [j["name"] for j in page2["_items"]] == ["job 2", "job 3"]
    assert page2["_meta"]["page"] == 2 and page2["_meta"]["max_results"] == 2


def test_item_etag_and_304(world, jobs):
    task = insert_task(world.db, jobs[0])
    api = world.api("alice")
    resp = api.get(f"/api/flamenco/tasks/{task['_id']}")
    assert resp.status_code == 200
    etag = resp.headers["ETag"]
    assert resp.get_json()["_etag"] == etag.strip('"')
    assert api.get(f"/api/flamenco/tasks/{task['_id']}", headers={"If-None-Match": etag}).status_code == 304
    assert api.get(f"/api/flamenco/tasks/{task['_id']}", headers={"If-None-Match": '"other"'}).status_code == 200


def test_manager_revalidates_its_task_with_etag(world, jobs):
    task = insert_task(world.db, jobs[0])
    api = world.api("manager_a")
    etag = api.get(f"/api/flamenco/tasks/{task['_id']}").headers["ETag"]
    assert api.get(f"/api/flamenco/tasks/{task['_id']}", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("operator", ["$where", "$regex", "$text", "$expr", "$near"])
def test_blacklisted_operators_are_400(world, jobs, operator):
    where = json.dumps({"name": {operator: "x"}})
    resp = world.api("alice").get("/api/flamenco/jobs", query={"where": where})
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["_status"] == "ERR" and body["_code"] == 400 and body["_message"]


def test_malformed_where_is_400(world):
    resp = world.api("alice").get("/api/flamenco/jobs", query={"where": "{not json"})
    assert resp.status_code == 400
    assert resp.get_json()["_code"] == 400


def test_bad_object_id_in_url_is_400(world):
    resp = world.api("alice").get("/api/flamenco/jobs/not-an-id")
    assert resp.status_code == 400
    assert "_id" in resp.get_json()["_issues"]
    resp = world.api("alice").patch("/api/flamenco/tasks/1234", json={"op": "requeue"})
    assert resp.status_code == 400


def test_bad_object_id_in_where_is_400(world):
    resp = world.api("alice").get("/api/flamenco/tasks", query={"where": json.dumps({"job": "nope"})})
    assert resp.status_code == 400
    assert "job" in resp.get_json()["_issues"]
    resp = world.api("alice").get("/api/flamenco/tasks",
                                  query={"where": json.dumps({"job": {"$in": ["nope"]}})})
    assert resp.status_code == 400


def test_unknown_item_is_404_in_error_shape(world):
    resp = world.api("alice").get("/api/flamenco/jobs/" + "a" * 24)
    assert resp.status_code == 404
    assert resp.get_json()["_status"] == "ERR"


def test_max_results_is_capped(world, jobs):
    body = world.api("alice").get("/api/flamenco/jobs", query={"max_results": 100000}).get_json()
    assert body["_meta"]["max_results"] == 250


@pytest.mark.parametrize("query,field", [
    ({"where": "[]"}, "where"), ({"where": "5"}, "where"),
    ({"projection": "{bad"}, "projection"), ({"projection": "[1]"}, "projection"),
])
def test_non_object_query_args_are_400_with_field(world, query, field):
    resp = world.api("alice").get("/api/flamenco/jobs", query=query)
    assert resp.status_code == 400
    assert field in resp.get_json()["_issues"]


def test_unparsable_sort_is_400_with_explanation(world):
    resp = world.api("alice").get("/api/flamenco/jobs", query={"sort": "[[["})
    assert resp.status_code == 400
    assert "sort" in resp.get_json()["_message"]


@pytest.mark.parametrize("body", ["5", '"text"', "[1, 2]", "null"])
def test_post_body_must_be_object(world, body):
    resp = world.api("alice").post("/api/flamenco/jobs", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["_status"] == "ERR"


def test_small_collections_report_totals_big_ones_do_not(world, jobs):
    assert world.api("root").get("/api/projects").get_json()["_meta"]["total"] == 2
    assert world.api("root").get("/api/flamenco/managers").get_json()["_meta"]["total"] == 2
    assert "total" not in world.api("root").get("/api/flamenco/jobs").get_json()["_meta"]


@pytest.mark.parametrize("where", [{"name": {"$in": "notalist"}}, {"name": {"$size": "x"}},
                                   {"name": {"$not": 5}}, {"$or": [5]}])
def test_operands_the_database_rejects_are_400(world, jobs, where):
    resp = world.api("alice").get("/api/flamenco/jobs", query={"where": json.dumps(where)})
    assert resp.status_code == 400
    body = resp.get_json()
    assert "where" in body["_issues"] and "rejected" in body["_message"]


@pytest.mark.parametrize("where", [{"name": {"$mod": 5}}, {"name": {"$not": {"$mod": 5}}}, {"$and": 5},
                                   {"$or": []}])
def test_operand_shapes_are_checked_before_the_database(world, jobs, where):
    """FerretDB v1.24 crashes on a non-array $mod; it must never see one."""
    resp = world.api("alice").get("/api/flamenco/jobs", query={"where": json.dumps(where)})
    assert resp.status_code == 400
    assert "where" in resp.get_json()["_issues"]
    assert world.api("alice").get("/api/flamenco/jobs").status_code == 200
