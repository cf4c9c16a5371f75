"""A task's log tail is shown only to callers with ``flamenco-view-logs`` (issue 13).

A viewer (``flamenco-viewer``: ``flamenco-view`` only) read the log through
``GET /api/flamenco/tasks/<id>`` although the task-log resource refuses them.
The field must not leave the database for such callers, in item and list
GETs, whatever projection they ask for.
"""
from __future__ import annotations

import json

import pytest

from tests.security.server_world import TASK_LOG, World, world  # noqa: F401

TASKS = "/api/flamenco/tasks"


def _item(world: World, who: str, **query: str) -> dict:
    resp = world.get(who, f"{TASKS}/{world.task['_id']}", query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _listed(world: World, who: str, **query: str) -> dict:
    resp = world.get(who, TASKS, query_string={"where": json.dumps({"_id": str(world.task["_id"])}), **query})
    assert resp.status_code == 200, resp.get_json()
    items = resp.get_json()["_items"]
    assert len(items) == 1
    return items[0]


@pytest.mark.parametrize("projection", [None, {"log": 1}, {"log": 1, "name": 1}, {"name": 0}])
def test_viewer_never_gets_the_log(world: World, projection: dict | None) -> None:
    query = {"projection": json.dumps(projection)} if projection else {}
    for doc in (_item(world, "viewer", **query), _listed(world, "viewer", **query)):
        assert "log" not in doc
        assert TASK_LOG not in json.dumps(doc)


def test_viewer_still_sees_the_rest_of_the_task(world: World) -> None:
    doc = _item(world, "viewer")
    assert doc["name"] == world.task["name"] and doc["status"] == world.task["status"]


@pytest.mark.parametrize("who", ["member", "admin", "manager"])
def test_callers_with_log_access_get_the_log(world: World, who: str) -> None:
    assert _item(world, who)["log"] == TASK_LOG
    assert _listed(world, who)["log"] == TASK_LOG


def test_viewer_cannot_read_the_task_log_resource_either(world: World) -> None:
    resp = world.get("viewer", "/api/flamenco/task_logs",
                     query_string={"where": json.dumps({"task": str(world.task["_id"])})})
    assert resp.status_code == 403
