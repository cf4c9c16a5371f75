"""The Settings page in Chromium (issue 14): edit a Manager's variable, set a sleep schedule,
rotate the registration secret, and see what the Manager will get; screenshots under tmp_path."""
from __future__ import annotations

import datetime

from bson import ObjectId

import pytest

from tests.browser.helpers import log_in, manager_api

pytestmark = pytest.mark.browser

WORKER_ID = str(ObjectId())


def report_manager(server: str, farm: dict) -> None:
    """The Manager's update notification: its variables and one worker."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    body = {"_meta": {"version": 2}, "manager_url": "http://render-room:8083/", "nr_of_workers": 1,
            "variables": {"render": {"direction": "twoway", "values": [{"platform": "linux", "value": "/old/render"}]},
                          "blender": {"direction": "oneway",
                                      "values": [{"platform": "linux", "value": "/usr/bin/blender"}]}},
            "worker_task_types": ["sleep"], "workers_reported_at": now,
            "workers": [{"_id": WORKER_ID, "nickname": "render-07", "status": "awake", "platform": "linux",
                         "last_activity": now}]}
    with manager_api(server, farm["manager"], farm["manager_token"]) as client:
        assert client.post("/update", json=body).status_code == 204


def pending_settings(server: str, farm: dict) -> dict:
    with manager_api(server, farm["manager"], farm["manager_token"]) as client:
        return client.post("/task-update-batch", json=[]).json()


def test_admin_edits_a_variable_sets_a_schedule_and_rotates_the_secret(page, server, farm, tmp_path):
    report_manager(server, farm)
    log_in(page, server)
    page.get_by_role("link", name="Settings").click()
    section = page.locator(f'section[data-manager-id="{farm["manager"]["_id"]}"]')
    row = section.locator('tr[data-variable="render"]')
    assert row.locator('td[data-platform="linux"]').inner_text() == "/old/render"
    assert "read-only" in section.locator('tr[data-variable="blender"]').get_attribute("class")
    assert section.locator('tr[data-variable="blender"] button').count() == 0

    # A bad path is refused, naming the field; the page keeps the old value.
    row.get_by_role("button", name="Edit").click()
    form = section.locator(".variable-form")
    assert form.get_by_label("Name").input_value() == "render"
    form.get_by_label("linux").fill("relative/render")
    form.get_by_role("button", name="Save variable").click()
    error = form.locator(".form-error")
    error.wait_for()
    assert error.inner_text().startswith("values.linux:")
    page.screenshot(path=str(tmp_path / "settings-error.png"), full_page=True)

    form.get_by_label("linux").fill("/mnt/render")
    form.get_by_label("windows").fill("R:/render")
    form.get_by_role("button", name="Save variable").click()
    section.locator(".settings-waiting").wait_for()
    row = section.locator('tr[data-variable="render"]')
    assert row.locator('td[data-platform="linux"]').inner_text() == "/mnt/render"
    assert row.locator('td[data-platform="windows"]').inner_text() == "R:/render"

    schedule_row = section.locator(f'tr[data-worker-id="{WORKER_ID}"]')
    schedule_row.get_by_label("active").check()
    schedule_row.get_by_label("From").fill("22:00")
    schedule_row.get_by_label("to").fill("06:00")
    with page.expect_navigation():  # saved: the page reloads
        schedule_row.get_by_role("button", name="Save schedule").click()
    assert section.locator(f'tr[data-worker-id="{WORKER_ID}"] .pending-schedule').inner_text() == (
        "Waiting for the Manager: asleep 22:00–06:00 on every day")

    page.on("dialog", lambda dialog: dialog.accept())
    section.get_by_role("button", name="New registration secret").click()
    secret = section.locator(".new-secret .secret-value")
    secret.wait_for()
    shown = secret.inner_text()
    assert len(shown) >= 40
    page.screenshot(path=str(tmp_path / "settings.png"), full_page=True)

    answer = pending_settings(server, farm)
    assert answer["manager_settings"]["variables"]["render"]["values"] == [
        {"platform": "linux", "value": "/mnt/render"}, {"platform": "windows", "value": "R:/render"}]
    assert answer["manager_settings"]["worker_registration_secret"] == shown
    [action] = answer["worker_actions"]
    assert action["schedule"] == {"schedule_active": True, "days_of_week": "", "time_start": "22:00",
                                  "time_end": "06:00"}

    page.reload()
    assert shown not in page.content(), "the secret is shown once"
