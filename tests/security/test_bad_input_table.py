"""Bad input is a 4xx naming the field at fault, never a 500 (issue 13, server tier).

Table-driven: every class of input that crashed the server (JSON nested
50,000 deep, a lone surrogate, integers beyond 64 bits, NaN/Infinity, a NUL
byte in a key, an array in an array (FerretDB cannot store one), malformed
query operators, huge paging numbers) is sent to
every JSON endpoint of the server and to the ``where``/``sort``/``page``/
``max_results``/``projection`` query arguments of every Eve resource.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import pytest

from tests.security.server_world import World, shared_world, world  # noqa: F401
from tests.support.server import job_doc

# Stands for the bad value in a body template; replaced in the JSON text.
MARK = "__BAD_VALUE__"
DEEP = "[" * 50_000 + "]" * 50_000

# class -> (JSON text of the bad value, path suffix the 400 must name below the template's field).
BODY_CLASSES: dict[str, tuple[str, str | None]] = {
    "nested-50000-deep": (DEEP, None),  # too deep to parse: the answer names the body
    "nested-past-the-limit": ('{"a": ' * 40 + "1" + "}" * 40, ""),
    "array-in-array": ("[[1, 2]]", ""),
    "lone-surrogate": ('"\\ud800"', ""),
    "lone-surrogate-in-key": ('{"\\udc00x": 1}', ""),
    "int-beyond-64-bits": ("1" + "0" * 30, ""),
    "negative-int-beyond-64-bits": ("-1" + "0" * 30, ""),
    "nan": ("NaN", ""),
    "infinity": ("-Infinity", ""),
    "float-overflowing-to-infinity": ("1e400", ""),
    "nul-in-key": ('{"a\\u0000b": 1}', ""),
}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A JSON endpoint, who calls it, and a body with MARK where the bad value goes."""

    method: str
    path: Callable[[World], str]
    who: str | None
    body: Callable[[World], Any]
    field: str  # the path of MARK in the body, as the 400 names it


ENDPOINTS: dict[str, Endpoint] = {
    "job POST": Endpoint(
        "POST", lambda w: "/api/flamenco/jobs", "member",
        lambda w: job_doc(w.project, w.manager, w.member, settings={"frames": "1-4", "chunk_size": MARK,
                                                                    "time_in_seconds": 1}),
        "settings.chunk_size"),
    "job POST name": Endpoint(
        "POST", lambda w: "/api/flamenco/jobs", "member",
        lambda w: job_doc(w.project, w.manager, w.member, name=MARK), "name"),
    "job POST list": Endpoint(
        "POST", lambda w: "/api/flamenco/jobs", "member",
        lambda w: [job_doc(w.project, w.manager, w.member, priority=MARK)], "[0].priority"),
    "job PATCH set-job-priority": Endpoint(
        "PATCH", lambda w: f"/api/flamenco/jobs/{w.job['_id']}", "member",
        lambda w: {"op": "set-job-priority", "priority": MARK}, "priority"),
    "job PATCH set-job-status": Endpoint(
        "PATCH", lambda w: f"/api/flamenco/jobs/{w.job['_id']}", "member",
        lambda w: {"op": "set-job-status", "status": MARK}, "status"),
    "job PATCH rna-overrides": Endpoint(
        "PATCH", lambda w: f"/api/flamenco/jobs/{w.job['_id']}", "member",
        lambda w: {"op": "rna-overrides", "rna_overrides": [MARK]}, "rna_overrides[0]"),
    "task PATCH set-task-status": Endpoint(
        "PATCH", lambda w: f"/api/flamenco/tasks/{w.task['_id']}", "member",
        lambda w: {"op": "set-task-status", "status": MARK}, "status"),
    "manager PATCH edit-from-web": Endpoint(
        "PATCH", lambda w: f"/api/flamenco/managers/{w.manager['_id']}", "member",
        lambda w: {"op": "edit-from-web", "name": MARK}, "name"),
    "project PATCH set-member": Endpoint(
        "PATCH", lambda w: f"/api/projects/{w.project['_id']}", "admin",
        lambda w: {"op": "set-member", "user": str(w.viewer["_id"]), "role": MARK}, "role"),
    "manager startup": Endpoint(
        "POST", lambda w: f"/api/flamenco/managers/{w.manager['_id']}/startup", "manager",
        lambda w: {"manager_url": "http://m/", "nr_of_workers": 1, "path_replacement": {},
                   "variables": {"blender": {"linux": MARK}}}, "variables.blender.linux"),
    "manager startup url": Endpoint(
        "POST", lambda w: f"/api/flamenco/managers/{w.manager['_id']}/startup", "manager",
        lambda w: {"manager_url": MARK, "nr_of_workers": 1, "path_replacement": {}, "variables": {}},
        "manager_url"),
    "manager update": Endpoint(
        "POST", lambda w: f"/api/flamenco/managers/{w.manager['_id']}/update", "manager",
        lambda w: {"manager_url": "http://m/", "nr_of_workers": MARK, "path_replacement": {}, "variables": {}},
        "nr_of_workers"),
    "task-update-batch": Endpoint(
        "POST", lambda w: f"/api/flamenco/managers/{w.manager['_id']}/task-update-batch", "manager",
        lambda w: [{"_id": "5f00000000000000000000aa", "task_id": str(w.task["_id"]),
                    "received_on_manager": "2026-12-03T10:00:00Z", "activity": "working",
                    "task_progress_percentage": MARK}], "[0].task_progress_percentage"),
    "task-update-batch log": Endpoint(
        "POST", lambda w: f"/api/flamenco/managers/{w.manager['_id']}/task-update-batch", "manager",
        lambda w: [{"_id": "5f00000000000000000000ab", "task_id": str(w.task["_id"]),
                    "received_on_manager": "2026-12-03T10:00:00Z", "log": MARK}], "[0].log"),
    "link exchange": Endpoint(
        "POST", lambda w: "/api/flamenco/managers/link/exchange", None, lambda w: {"key": MARK}, "key"),
    "link reset-token": Endpoint(
        "POST", lambda w: "/api/flamenco/managers/link/reset-token", None,
        lambda w: {"manager_id": str(w.manager["_id"]), "identifier": MARK, "padding": "x", "hmac": "00"},
        "identifier"),
    "link choose": Endpoint(
        "POST", lambda w: "/flamenco/managers/link/choose?identifier=5f0000000000000000000001"
                          "&return=http://m/&hmac=00", "member",
        lambda w: {"manager-id": "new", "manager-name": MARK}, "manager-name"),
    "dashboard job actions": Endpoint(
        "POST", lambda w: f"/p/{w.project['url']}/jobs/actions", "member",
        lambda w: {"action": "cancel", "jobs": [MARK]}, "jobs[0]"),
    "dashboard task action": Endpoint(
        "POST", lambda w: f"/p/{w.project['url']}/tasks/{w.task['_id']}/actions", "member",
        lambda w: {"action": MARK}, "action"),
}


def _send(world: World, endpoint: Endpoint, text: str, **kw: Any):
    headers = {"Content-Type": "application/json", "Accept": "application/json", **kw.pop("headers", {})}
    if endpoint.who is not None:
        headers.update(world.headers(endpoint.who))
    return world.client().open(endpoint.path(world), method=endpoint.method, data=text, headers=headers, **kw)


def _issues_of(resp) -> str:
    """The answer's field names and reasons, as one string to search."""
    body = resp.get_json(silent=True) or {}
    return json.dumps({"issues": body.get("_issues"), "message": body.get("_message")})


@pytest.mark.parametrize("bad_class", list(BODY_CLASSES))
@pytest.mark.parametrize("endpoint_name", list(ENDPOINTS))
def test_bad_json_bodies_are_4xx_naming_the_field(shared_world: World, endpoint_name: str, bad_class: str) -> None:
    world = shared_world
    endpoint = ENDPOINTS[endpoint_name]
    bad_text, suffix = BODY_CLASSES[bad_class]
    text = json.dumps(endpoint.body(world)).replace(json.dumps(MARK), bad_text)
    resp = _send(world, endpoint, text)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:300])
    named = _issues_of(resp)
    assert (endpoint.field if suffix is not None else "body") in named, named


@pytest.mark.parametrize("content_type", ["", "text/plain"])
def test_bodies_without_a_json_content_type_are_checked_too(shared_world: World, content_type: str) -> None:
    """Flamenco 2 Managers post some bodies without a JSON Content-Type; the endpoints parse them anyway."""
    endpoint = ENDPOINTS["link exchange"]
    text = json.dumps({"key": MARK}).replace(json.dumps(MARK), '"\\ud800"')
    resp = _send(shared_world, endpoint, text, headers={"Content-Type": content_type})
    assert resp.status_code == 400
    assert "key" in _issues_of(resp)


@pytest.mark.parametrize("endpoint_name", ["job POST", "manager startup", "task-update-batch", "link exchange"])
def test_good_bodies_still_work(world: World, endpoint_name: str) -> None:
    """The same templates with an ordinary value pass the edge (they may fail later for other reasons)."""
    endpoint = ENDPOINTS[endpoint_name]
    values = {"job POST": 2, "manager startup": "/usr/bin/blender", "task-update-batch": 50,
              "link exchange": "ab" * 32}
    text = json.dumps(endpoint.body(world)).replace(json.dumps(MARK), json.dumps(values[endpoint_name]))
    resp = _send(world, endpoint, text)
    assert resp.status_code < 300, resp.get_json()


EVE_LISTS = ("/api/projects", "/api/users", "/api/flamenco/managers", "/api/flamenco/jobs",
             "/api/flamenco/tasks", "/api/flamenco/task_logs")
# Query argument values -> the argument the 400 must name.
QUERY_CASES: dict[str, tuple[dict[str, str], str]] = {
    "where deep": ({"where": '{"_id": {"$in": ' + DEEP + "}}"}, "where"),
    "where deep under the limit of the parser": ({"where": '{"_id": ' + '{"a": ' * 40 + "1" + "}" * 41},
                                                 "where"),
    "where array in array": ({"where": '{"_id": {"$in": [["5f0000000000000000000001"]]}}'}, "where"),
    "where lone surrogate": ({"where": '{"_id": "\\ud800"}'}, "where"),
    "where int beyond 64 bits": ({"where": '{"_updated": {"$gt": ' + "9" * 30 + "}}"}, "where"),
    "where infinity": ({"where": '{"_updated": {"$gt": 1e400}}'}, "where"),
    "where NUL in key": ({"where": '{"a\\u0000": 1}'}, "where"),
    "where $in not array": ({"where": '{"_id": {"$in": 1}}'}, "where"),
    "where $nin not array": ({"where": '{"_id": {"$nin": "x"}}'}, "where"),
    "where $all not array": ({"where": '{"_id": {"$all": 1}}'}, "where"),
    "where $size string": ({"where": '{"_id": {"$size": "x"}}'}, "where"),
    "where $size negative": ({"where": '{"_id": {"$size": -1}}'}, "where"),
    "where $elemMatch number": ({"where": '{"_id": {"$elemMatch": 5}}'}, "where"),
    "where $type unknown": ({"where": '{"_id": {"$type": "nonsense"}}'}, "where"),
    "where $mod by zero": ({"where": '{"_id": {"$mod": [0, 1]}}'}, "where"),
    "where $not empty": ({"where": '{"_id": {"$not": {}}}'}, "where"),
    "where $exists string": ({"where": '{"_id": {"$exists": "x"}}'}, "where"),
    "where operator in value": ({"where": '{"_id": {"$eq": {"$gt": 1}}}'}, "where"),
    "where operator in $in": ({"where": '{"_id": {"$in": [{"$gt": 1}]}}'}, "where"),
    "where unsupported operator": ({"where": '{"_id": {"$bitsAllSet": 1}}'}, "where"),
    "where top-level $comment": ({"where": '{"$comment": "x"}'}, "where"),
    "where mixed operators and keys": ({"where": '{"_id": {"$gt": 1, "a": 2}}'}, "where"),
    "where empty field name": ({"where": '{"": 1}'}, "where"),
    "sort empty item": ({"sort": "_id,,-_id"}, "sort"),
    "sort lone comma": ({"sort": ","}, "sort"),
    "sort deep": ({"sort": "(" * 50_000}, "sort"),
    "sort bad direction": ({"sort": '[("_id", 10000000000000000000000000000000)]'}, "sort"),
    "sort not pairs": ({"sort": "[1, 2]"}, "sort"),
    "page beyond 64 bits": ({"page": "1" + "0" * 30}, "page"),
    "page zero": ({"page": "0"}, "page"),
    "page negative": ({"page": "-1"}, "page"),
    "page float overflow": ({"page": "1e400"}, "page"),
    "max_results float overflow": ({"max_results": "1e400"}, "max_results"),
    "max_results beyond 64 bits": ({"max_results": "9" * 30}, "max_results"),
    "projection deep": ({"projection": '{"a": ' + DEEP + "}"}, "projection"),
    "projection NUL in key": ({"projection": '{"a\\u0000": 1}'}, "projection"),
    "projection lone surrogate": ({"projection": '{"\\ud800": 1}'}, "projection"),
}


@pytest.mark.parametrize("case", list(QUERY_CASES))
@pytest.mark.parametrize("path", EVE_LISTS)
def test_bad_query_arguments_are_400_naming_the_argument(shared_world: World, path: str, case: str) -> None:
    query, argument = QUERY_CASES[case]
    resp = shared_world.get("admin", path, query_string=query)
    assert resp.status_code == 400, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert argument in resp.get_json()["_issues"], resp.get_json()


@pytest.mark.parametrize("query", [{"page": "1" + "0" * 30}, {"page": "x"}, {"page": "0"}])
def test_dashboard_paging_is_checked_too(shared_world: World, query: dict) -> None:
    resp = shared_world.get("member", f"/p/{shared_world.project['url']}/jobs/", query_string=query,
                     headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert "page" in resp.get_data(as_text=True)


@pytest.mark.parametrize("path", EVE_LISTS[:-1])
def test_ordinary_paging_still_works(shared_world: World, path: str) -> None:
    resp = shared_world.get("admin", path, query_string={"page": "2", "max_results": "1000", "sort": "-_id"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["_meta"]["max_results"] == 250
