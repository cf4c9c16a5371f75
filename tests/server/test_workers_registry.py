"""The farm-wide worker registry and worker actions on the server (issue 14).

Managers report their workers in notifications; users list them through
``/api/flamenco/workers`` and queue actions, which ride on the Manager's
task-update-batch answers until the Manager acknowledges them. Runs the
server app on this test's FerretDB database.
"""
from __future__ import annotations

import base64
import datetime

from bson import ObjectId

from flamenco.workers import defaults
from tests.server.conftest import World

WORKERS_URL = "/api/flamenco/workers"


def basic_auth(token: str) -> dict:
    """What Flamenco Manager 2.x sends: the token as Basic username, empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}


def notification(**extra) -> dict:
    """A Flamenco 2 (v2 settings) update notification, plus ``extra`` fields."""
    return {"_meta": {"version": 2}, "manager_url": "http://manager.local:8083/", "variables": {},
            "nr_of_workers": 1, "worker_task_types": ["sleep"], **extra}


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


def reported_worker(worker_id: str | None = None, **fields) -> dict:
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"_id": worker_id or str(ObjectId()), "nickname": "render-01", "status": "awake",
            "platform": "linux", "supported_task_types": ["sleep", "blender"], "software": "Flamenco-Worker/2.2",
            "last_activity": iso(now), "address": "10.0.0.5", **fields}


def notify(world: World, manager: str, body: dict, kind: str = "update"):
    doc = getattr(world, manager)
    return world.client.post(f"/api/flamenco/managers/{doc['_id']}/{kind}", json=body,
                             headers=basic_auth(world.tokens[manager]))


def push_batch(world: World, manager: str) -> dict:
    doc = getattr(world, manager)
    resp = world.client.post(f"/api/flamenco/managers/{doc['_id']}/task-update-batch", json=[],
                             headers=basic_auth(world.tokens[manager]))
    assert resp.status_code == 200, resp.text
    return resp.json


def listed(world: World, who: str) -> list[dict]:
    resp = world.api(who).get(WORKERS_URL)
    assert resp.status_code == 200, resp.text
    return resp.json["_items"]


def report_now(world: World, manager: str, workers: list[dict]) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    resp = notify(world, manager, notification(workers=workers, workers_reported_at=iso(now)))
    assert resp.status_code == 204, resp.text


def action_url(world: World, manager: str, worker_id: str) -> str:
    return f"{WORKERS_URL}/{getattr(world, manager)['_id']}/{worker_id}/actions"


def test_reported_workers_are_listed_to_who_may_see_their_manager(world: World):
    worker = reported_worker(status="asleep", current_task=None)
    report_now(world, "manager_a", [worker])
    report_now(world, "manager_b", [reported_worker(nickname="other")])

    [item] = listed(world, "alice")
    assert item["worker_id"] == worker["_id"]
    assert item["manager"] == {"_id": str(world.manager_a["_id"]), "name": "Manager A"}
    assert (item["nickname"], item["status"], item["platform"]) == ("render-01", "asleep", "linux")
    assert item["supported_task_types"] == ["sleep", "blender"]
    assert item["last_seen"] and item["may_act"] is True and item["pending_actions"] == []
    assert [i["nickname"] for i in listed(world, "bob")] == ["other"]
    assert [i["may_act"] for i in listed(world, "vera")] == [False], "a viewer sees but may not act"
    assert {i["nickname"] for i in listed(world, "root")} == {"render-01", "other"}
    assert world.api(None).get(WORKERS_URL).status_code == 401


def test_report_without_workers_keeps_the_list_and_a_new_report_replaces_it(world: World):
    first, second = reported_worker(nickname="one"), reported_worker(nickname="two")
    report_now(world, "manager_a", [first, second])
    # A Flamenco 2 Manager never sends `workers`: the list stays as it was.
    assert notify(world, "manager_a", notification()).status_code == 204
    assert notify(world, "manager_a", notification(), kind="startup").status_code == 204
    assert {i["nickname"] for i in listed(world, "alice")} == {"one", "two"}
    # A report is the whole list: a worker the Manager no longer has disappears.
    report_now(world, "manager_a", [second])
    assert [i["nickname"] for i in listed(world, "alice")] == ["two"]
    assert world.db[defaults.WORKERS].count_documents({}) == 1
    report_now(world, "manager_a", [])
    assert listed(world, "alice") == []


def test_bad_report_is_a_400_naming_the_field_and_stores_nothing(world: World):
    good = reported_worker()
    cases = {
        "workers": "not a list",
        "workers[1].status": [good, reported_worker(status=7)],
        "workers[0]._id": [reported_worker(worker_id="nope")],
        "workers[0].last_activity": [reported_worker(last_activity="yesterday")],
        "workers[0].blocklist[0].job": [reported_worker(blocklist=[{"job": "x", "task_type": "sleep"}])],
        "workers[1]._id": [good, good],
    }
    for field, workers in cases.items():
        resp = notify(world, "manager_a", notification(workers=workers, manager_url="http://changed/"))
        assert resp.status_code == 400, (field, resp.text)
        assert field in resp.json["_issues"], (field, resp.json)
    resp = notify(world, "manager_a", notification(workers=[good], workers_reported_at="soon"))
    assert "workers_reported_at" in resp.json["_issues"]
    resp = notify(world, "manager_a", notification(worker_actions_done=["abc"]))
    assert "worker_actions_done[0]" in resp.json["_issues"]
    assert world.db[defaults.WORKERS].count_documents({}) == 0
    assert "url" not in world.db["flamenco_managers"].find_one({"_id": world.manager_a["_id"]})


def test_worker_silent_beyond_the_window_shows_offline(world: World):
    """Silence is measured on the Manager's clock up to the report, so clock skew does not matter."""
    manager_time = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)  # far from the server's clock
    recent = reported_worker(nickname="recent", last_activity=iso(manager_time - datetime.timedelta(seconds=20)))
    silent = reported_worker(nickname="silent", status="awake", last_activity=iso(
        manager_time - datetime.timedelta(seconds=defaults.OFFLINE_AFTER_SECONDS + 5)))
    resp = notify(world, "manager_a", notification(workers=[recent, silent], workers_reported_at=iso(manager_time)))
    assert resp.status_code == 204
    statuses = {i["nickname"]: (i["status"], i["reported_status"]) for i in listed(world, "alice")}
    assert statuses == {"recent": ("awake", "awake"), "silent": ("offline", "awake")}


def test_current_task_is_shown_only_when_running_and_visible(world: World):
    task_id = world.db["flamenco_tasks"].insert_one({"name": "frames 1-4", "status": "active",
                                                     "project": world.project_a["_id"], "job": ObjectId(),
                                                     "manager": world.manager_a["_id"]}).inserted_id
    report_now(world, "manager_a", [reported_worker(nickname="busy", current_task=str(task_id),
                                                    current_task_status="active"),
                                    reported_worker(nickname="done", current_task=str(task_id),
                                                    current_task_status="completed")])
    by_name = {i["nickname"]: i for i in listed(world, "alice")}
    assert by_name["busy"]["current_task"]["name"] == "frames 1-4"
    assert by_name["busy"]["current_task"]["project_url"] == world.project_a["url"]
    assert by_name["done"]["current_task"] is None


def test_who_may_queue_an_action(world: World):
    worker = reported_worker()
    report_now(world, "manager_a", [worker])
    url = action_url(world, "manager_a", worker["_id"])
    assert world.api("vera").post(url, json={"action": "sleep"}).status_code == 403
    assert world.api("bob").post(url, json={"action": "sleep"}).status_code == 404
    assert world.api("manager_b").post(url, json={"action": "sleep"}).status_code == 404
    assert world.api(None).post(url, json={"action": "sleep"}).status_code == 401
    unknown = world.api("alice").post(action_url(world, "manager_a", str(ObjectId())), json={"action": "sleep"})
    assert unknown.status_code == 404 and "worker_id" in unknown.json["_issues"]
    assert world.api("alice").post(url, json={"action": "sleep"}).status_code == 201
    assert world.api("root").post(url, json={"action": "wake"}).status_code == 201


def test_bad_action_requests_are_400_naming_the_field(world: World):
    worker = reported_worker()
    report_now(world, "manager_a", [worker])
    url = action_url(world, "manager_a", worker["_id"])
    cases = {
        "action": {"action": "explode"},
        "lazy": {"action": "sleep", "lazy": "yes"},
        "job": {"action": "remove-from-blocklist"},
        "task_type": {"action": "remove-from-blocklist", "job": str(ObjectId()), "task_type": 5},
        "colour": {"action": "sleep", "colour": "red"},
    }
    for field, body in cases.items():
        resp = world.api("alice").post(url, json=body)
        assert resp.status_code == 400, (field, resp.text)
        assert field in resp.json["_issues"], (field, resp.json)
    assert world.api("alice").post(url, data="not json").status_code == 400
    bad_manager = world.api("alice").post(f"{WORKERS_URL}/xyz/{worker['_id']}/actions", json={"action": "sleep"})
    assert bad_manager.status_code == 400 and "manager_id" in bad_manager.json["_issues"]


def test_action_rides_on_batch_answers_until_acknowledged(world: World):
    worker = reported_worker()
    report_now(world, "manager_a", [worker])
    url = action_url(world, "manager_a", worker["_id"])
    resp = world.api("alice").post(url, json={"action": "sleep", "lazy": True})
    assert resp.status_code == 201
    action_id = resp.json["_id"]
    again = world.api("alice").post(url, json={"action": "sleep", "lazy": True})
    assert (again.status_code, again.json["_id"]) == (200, action_id), "the same request is not queued twice"
    [item] = listed(world, "alice")
    assert [(a["_id"], a["action"], a["lazy"]) for a in item["pending_actions"]] == [(action_id, "sleep", True)]

    expected = [{"_id": action_id, "worker": worker["_id"], "action": "sleep", "lazy": True}]
    assert push_batch(world, "manager_a")["worker_actions"] == expected
    assert push_batch(world, "manager_a")["worker_actions"] == expected, "re-sent until acknowledged"
    assert "worker_actions" not in push_batch(world, "manager_b")
    # A notification without the acknowledgement (a Flamenco 2 Manager's) leaves it pending.
    assert notify(world, "manager_a", notification()).status_code == 204
    assert push_batch(world, "manager_a")["worker_actions"] == expected
    assert notify(world, "manager_a", notification(worker_actions_done=[action_id])).status_code == 204
    assert "worker_actions" not in push_batch(world, "manager_a")
    assert listed(world, "alice")[0]["pending_actions"] == []
    # Acknowledging twice (an answer lost on the way back) is harmless.
    assert notify(world, "manager_a", notification(worker_actions_done=[action_id])).status_code == 204


def test_blocklist_action_carries_job_and_task_type(world: World):
    job = ObjectId()
    worker = reported_worker(blocklist=[{"job": str(job), "task_type": "blender"}])
    report_now(world, "manager_a", [worker])
    assert listed(world, "alice")[0]["blocklist"] == [{"job": str(job), "task_type": "blender"}]
    resp = world.api("alice").post(action_url(world, "manager_a", worker["_id"]),
                                   json={"action": "remove-from-blocklist", "job": str(job), "task_type": "blender"})
    assert resp.status_code == 201
    [sent] = push_batch(world, "manager_a")["worker_actions"]
    assert (sent["action"], sent["job"], sent["task_type"]) == ("remove-from-blocklist", str(job), "blender")


def test_expired_action_is_no_longer_handed_out(world: World):
    worker = reported_worker()
    report_now(world, "manager_a", [worker])
    resp = world.api("alice").post(action_url(world, "manager_a", worker["_id"]), json={"action": "shutdown"})
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
        seconds=defaults.PENDING_ACTION_MAX_AGE_SECONDS + 60)
    world.db["flamenco_managers"].update_one(
        {"_id": world.manager_a["_id"]}, {"$set": {f"{defaults.PENDING_FIELD}.{resp.json['_id']}._created": old}})
    assert "worker_actions" not in push_batch(world, "manager_a")
    assert listed(world, "alice")[0]["pending_actions"] == []
