"""Managers pages: list, details with variables, project assignment, token revocation."""
from __future__ import annotations

from flamenco.web import live_feed
from tests.support.server import make_project
from tests.web.conftest import csrf_from


def test_manager_list_and_details_with_variables(alice, mongo_db, farm):
    mongo_db["flamenco_managers"].update_one({"_id": farm["manager"]["_id"]}, {"$set": {
        "settings_version": 2, "stats": {"nr_of_workers": 3}, "worker_task_types": ["sleep", "blender-render"],
        "variables": {"blender": {"direction": "oneway", "values": [
            {"audience": "workers", "platform": "linux", "value": "/opt/blender/blender"}]}}}})
    listing = alice.get("/managers/").get_data(as_text=True)
    assert "Studio Manager" in listing and "Spring Shot" in listing
    html = alice.get(f"/managers/{farm['manager']['_id']}").get_data(as_text=True)
    assert "/opt/blender/blender" in html and "one-way" in html
    assert "sleep, blender-render" in html
    assert "Revoke tokens" in html


def test_outsider_sees_no_managers(client_as, farm):
    olga = client_as("olga")
    assert "No Managers yet" in olga.get("/managers/").get_data(as_text=True)
    assert olga.get(f"/managers/{farm['manager']['_id']}").status_code == 404


def test_owner_assigns_and_removes_a_project(alice, mongo_db, farm):
    other = make_project(mongo_db, "Summer Shot", members=[(farm["alice"], "admin")], url="summer")
    page = f"/managers/{farm['manager']['_id']}"
    token = csrf_from(alice.get(page).get_data(as_text=True))
    response = alice.post(f"{page}/projects", data={"csrf_token": token, "project": str(other["_id"]),
                                                     "action": "assign"})
    assert response.status_code == 302
    assert other["_id"] in mongo_db["flamenco_managers"].find_one({"_id": farm["manager"]["_id"]})["projects"]
    alice.post(f"{page}/projects", data={"csrf_token": token, "project": str(other["_id"]), "action": "remove"})
    assert other["_id"] not in mongo_db["flamenco_managers"].find_one({"_id": farm["manager"]["_id"]})["projects"]


def test_assigning_needs_project_admin_rights(alice, mongo_db, farm):
    foreign = make_project(mongo_db, "Not Yours", members=[(farm["olga"], "admin")], url="foreign")
    page = f"/managers/{farm['manager']['_id']}"
    token = csrf_from(alice.get(page).get_data(as_text=True))
    response = alice.post(f"{page}/projects", data={"csrf_token": token, "project": str(foreign["_id"]),
                                                     "action": "assign"})
    assert response.status_code == 403
    assert foreign["_id"] not in mongo_db["flamenco_managers"].find_one({"_id": farm["manager"]["_id"]})["projects"]


def test_revoke_token_deletes_the_service_accounts_tokens(alice, mongo_db, farm):
    manager = farm["manager"]
    assert mongo_db["tokens"].count_documents({"user": manager["service_account"]}) >= 1
    page = f"/managers/{manager['_id']}"
    token = csrf_from(alice.get(page).get_data(as_text=True))
    response = alice.post(f"{page}/revoke-token", data={"csrf_token": token})
    assert response.status_code == 302
    assert mongo_db["tokens"].count_documents({"user": manager["service_account"]}) == 0
    assert "Revoked" in alice.get(page).get_data(as_text=True)


def test_members_who_do_not_own_the_manager_cannot_change_it(client_as, mongo_db, farm):
    mongo_db["projects"].update_one({"_id": farm["project"]["_id"]}, {"$push": {
        "members": {"user": farm["olga"]["_id"], "role": "member"}}})
    olga = client_as("olga")
    page = f"/managers/{farm['manager']['_id']}"
    html = olga.get(page).get_data(as_text=True)
    assert "Revoke tokens" not in html
    response = olga.post(f"{page}/revoke-token", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 403


def test_workers_reported_on_task_updates_are_listed(alice, farm, redis_url, jobs_of):
    job = jobs_of(name="render", task_statuses=("active",))
    task = dict(job["tasks"][0], worker="render-node-7", activity="Rendering frame 12")
    live_feed.publish("task", task, url=redis_url)
    html = alice.get(f"/managers/{farm['manager']['_id']}").get_data(as_text=True)
    assert "render-node-7" in html and "Rendering frame 12" in html
    assert f"/p/spring/tasks/{task['_id']}" in html
