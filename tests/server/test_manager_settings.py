"""Manager settings changed on the server (issue 14): variables, registration secret, sleep schedules.

The server app on this test's FerretDB database: changes are checked and
kept on the Manager's document, ride along in task-update-batch answers
(``manager_settings``) until the Manager reports the version it runs, and a
new registration secret is shown once and kept only encrypted, until then.
"""
from __future__ import annotations

from bson import ObjectId

from flamenco.managers import settings
from flamenco.workers import defaults as worker_defaults
from tests.server.conftest import World
from tests.server.test_workers_registry import action_url, basic_auth, notification, notify, push_batch, \
    report_now, reported_worker

RENDER = {"direction": "twoway", "values": {"linux": "/mnt/render", "windows": "R:/render"}}


def settings_url(world: World, manager: str = "manager_a") -> str:
    return f"/api/flamenco/managers/{getattr(world, manager)['_id']}/settings"


def put_variable(world: World, who: str, name: str, body: dict, manager: str = "manager_a"):
    return world.api(who).request("PUT", f"{settings_url(world, manager)}/variables/{name}", json=body)


def test_owner_sets_a_variable_and_it_rides_along_until_the_manager_runs_it(world: World):
    reported = {"render": {"direction": "twoway", "values": [{"platform": "linux", "value": "/old"}]},
                "blender": {"direction": "oneway", "values": [{"platform": "linux", "value": "/usr/bin/blender"}]}}
    assert notify(world, "manager_a", notification(variables=reported)).status_code == 204

    resp = put_variable(world, "alice", "render", RENDER)
    assert resp.status_code == 200, resp.text
    assert resp.json["waiting_for_manager"] and resp.json["pending_version"] == 1
    resp = put_variable(world, "alice", "shots", {"values": {"darwin": "{render}/shots"}})
    assert resp.status_code == 200, resp.text

    wire = push_batch(world, "manager_a")["manager_settings"]
    assert wire["version"] == 2
    assert wire["variables"] == {
        "render": {"direction": "twoway", "values": [{"platform": "linux", "value": "/mnt/render"},
                                                     {"platform": "windows", "value": "R:/render"}]},
        "shots": {"direction": "oneway", "values": [{"platform": "darwin", "value": "{render}/shots"}]},
    }, "every version carries all variables, never the program variables"
    assert "worker_registration_secret" not in wire
    assert "manager_settings" not in push_batch(world, "manager_b"), "another Manager gets nothing"

    # A notification reporting version 1 is not enough; version 2 is.
    assert notify(world, "manager_a", notification(manager_settings_version=1)).status_code == 204
    assert push_batch(world, "manager_a")["manager_settings"]["version"] == 2
    assert notify(world, "manager_a", notification(manager_settings_version=2)).status_code == 204
    assert "manager_settings" not in push_batch(world, "manager_a")

    resp = world.api("alice").delete(f"{settings_url(world)}/variables/shots")
    assert resp.status_code == 200, resp.text
    assert set(push_batch(world, "manager_a")["manager_settings"]["variables"]) == {"render"}


def test_bad_variables_are_refused_naming_the_field(world: World):
    cases = [
        ("Render", RENDER, "name"),
        ("render-out", RENDER, "name"),
        ("blender", {"values": {"linux": "/opt/blender/blender"}}, "name"),
        ("render", {"direction": "sideways", "values": {"linux": "/x"}}, "direction"),
        ("render", {"values": {}}, "values"),
        ("render", {"values": {"plan9": "/x"}}, "values.plan9"),
        ("render", {"values": {"linux": "relative/path"}}, "values.linux"),
        ("render", {"values": {"windows": "R:/a\nb"}}, "values.windows"),
        ("render", {"values": {"linux": 42}}, "values.linux"),
        ("render", {"values": {"linux": "/x"}, "audience": "users"}, "audience"),
    ]
    for name, body, field in cases:
        resp = put_variable(world, "alice", name, body)
        assert resp.status_code in (400, 422), (name, body, resp.status_code)
        assert field in resp.json["_issues"], (name, body, resp.json)
    resp = world.api("alice").delete(f"{settings_url(world)}/variables/nosuch")
    assert resp.status_code == 404 and "name" in resp.json["_issues"]
    resp = notify(world, "manager_a", notification(manager_settings_version="3"))
    assert resp.status_code == 400 and "manager_settings_version" in resp.get_data(as_text=True)
    assert "manager_settings" not in push_batch(world, "manager_a"), "nothing was stored"


def test_only_owners_and_admins_change_settings(world: World):
    # vera sees Manager A (viewer of its project) but does not own it; bob cannot see it at all.
    assert world.api("vera").get(settings_url(world)).status_code == 200
    assert put_variable(world, "vera", "render", RENDER).status_code == 403
    assert world.api("vera").post(f"{settings_url(world)}/registration-secret").status_code == 403
    assert put_variable(world, "bob", "render", RENDER).status_code == 404
    assert world.api("bob").post(f"{settings_url(world)}/registration-secret").status_code == 404
    assert put_variable(world, None, "render", RENDER).status_code == 401
    assert world.api("manager_a").post(f"{settings_url(world)}/registration-secret").status_code == 403
    assert "manager_settings" not in push_batch(world, "manager_a")
    assert put_variable(world, "root", "render", RENDER).status_code == 200, "a global admin may"


def test_rotated_secret_is_shown_once_kept_encrypted_and_forgotten_once_acknowledged(world: World):
    resp = world.api("alice").post(f"{settings_url(world)}/registration-secret")
    assert resp.status_code == 201, resp.text
    secret = resp.json["worker_registration_secret"]
    assert len(secret) >= 40 and resp.headers["Cache-Control"] == "no-store"

    stored = world.db["flamenco_managers"].find_one({"_id": world.manager_a["_id"]})
    assert secret not in str(stored), "only the encrypted form is stored"
    assert stored[settings.PENDING_FIELD]["secret"]
    listed = world.api("alice").get(settings_url(world)).json
    assert listed["secret_pending"] and secret not in str(listed)
    eve_item = world.api("alice").get(f"/api/flamenco/managers/{world.manager_a['_id']}",
                                      query={"projection": '{"pending_settings": 1}'})
    assert secret not in eve_item.get_data(as_text=True) and "pending_settings" not in eve_item.get_data(as_text=True)

    # Variables changed after the rotation keep carrying the secret until acknowledged.
    assert put_variable(world, "alice", "render", RENDER).status_code == 200
    wire = push_batch(world, "manager_a")["manager_settings"]
    assert (wire["version"], wire["worker_registration_secret"]) == (2, secret)
    second = world.api("alice").post(f"{settings_url(world)}/registration-secret").json["worker_registration_secret"]
    assert second != secret
    # Acknowledging version 2 must not drop the newer secret of version 3.
    assert notify(world, "manager_a", notification(manager_settings_version=2)).status_code == 204
    wire = push_batch(world, "manager_a")["manager_settings"]
    assert (wire["version"], wire["worker_registration_secret"]) == (3, second)
    assert notify(world, "manager_a", notification(manager_settings_version=3)).status_code == 204
    stored = world.db["flamenco_managers"].find_one({"_id": world.manager_a["_id"]})
    assert "secret" not in stored[settings.PENDING_FIELD], "deleted once the Manager runs it"
    assert "manager_settings" not in push_batch(world, "manager_a")


def test_sleep_schedule_action_is_checked_and_handed_out(world: World):
    worker = reported_worker()
    report_now(world, "manager_a", [worker])
    url = action_url(world, "manager_a", worker["_id"])
    bad = [({"schedule_active": "yes"}, "schedule.schedule_active"),
           ({"schedule_active": True, "days_of_week": "mo xx"}, "schedule.days_of_week"),
           ({"schedule_active": True, "time_start": "25:00"}, "schedule.time_start"),
           ({"schedule_active": True, "time_end": "7pm"}, "schedule.time_end"),
           ({"schedule_active": True, "colour": "red"}, "schedule.colour")]
    for schedule, field in bad:
        resp = world.api("alice").post(url, json={"action": "set-sleep-schedule", "schedule": schedule})
        assert resp.status_code == 400 and field in resp.json["_issues"], (schedule, resp.json)
    resp = world.api("alice").post(url, json={"action": "set-sleep-schedule"})
    assert resp.status_code == 400 and "schedule" in resp.json["_issues"]
    resp = world.api("alice").post(url, json={"action": "sleep", "schedule": {}})
    assert resp.status_code == 400 and "schedule" in resp.json["_issues"]
    assert world.api("vera").post(url, json={"action": "set-sleep-schedule", "schedule": {}}).status_code == 403

    schedule = {"schedule_active": True, "days_of_week": "Monday tu", "time_start": "22:00", "time_end": "6:30"}
    resp = world.api("alice").post(url, json={"action": "set-sleep-schedule", "schedule": schedule})
    assert resp.status_code == 201, resp.text
    [action] = push_batch(world, "manager_a")["worker_actions"]
    assert action["action"] == worker_defaults.SET_SLEEP_SCHEDULE
    assert action["schedule"] == {"schedule_active": True, "days_of_week": "mo tu", "time_start": "22:00",
                                  "time_end": "6:30"}

    # The Manager reports the schedule with the worker; the list shows it.
    shown = {**schedule, "days_of_week": "mo tu"}
    report_now(world, "manager_a", [{**worker, "sleep_schedule": shown}])
    [item] = world.api("alice").get("/api/flamenco/workers").json["_items"]
    assert item["sleep_schedule"] == shown


def test_a_flamenco2_manager_notification_changes_nothing(world: World):
    resp = world.api("alice").post(f"{settings_url(world)}/registration-secret")
    assert resp.status_code == 201
    assert notify(world, "manager_a", notification()).status_code == 204
    assert push_batch(world, "manager_a")["manager_settings"]["version"] == 1
    assert world.db["flamenco_managers"].find_one({"_id": world.manager_a["_id"]})[settings.PENDING_FIELD]["secret"]
    unknown = world.api("alice").get(f"/api/flamenco/managers/{ObjectId()}/settings")
    assert unknown.status_code == 404
