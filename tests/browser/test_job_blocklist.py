"""The job page's Blocklist section in Chromium (issue 14): the Manager's reported blocklist for the job,
and "Remove" queuing the worker action for the Manager."""
from __future__ import annotations

import datetime

import pytest
from bson import ObjectId

from tests.browser.helpers import log_in, manager_api
from tests.support.server import job_doc, post_job

pytestmark = pytest.mark.browser


def test_blocklist_section_lists_and_removes(page, server, farm, mongo_db, tmp_path):
    doc = job_doc(farm["project"], farm["manager"], farm["alice"], name="Shot 080 fx",
                  settings={"frames": "1-4", "chunk_size": 2, "time_in_seconds": 1})
    response = post_job(server, farm["token"], doc)
    assert response.status_code == 201, response.text
    job_id = response.json()["_id"]
    worker_id = str(ObjectId())
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    with manager_api(server, farm["manager"], farm["manager_token"]) as manager:
        response = manager.post("/update", json={
            "_meta": {"version": 2}, "manager_url": "http://manager.local:8083/", "variables": {},
            "nr_of_workers": 1, "worker_task_types": ["sleep"], "workers_reported_at": now,
            "workers": [{"_id": worker_id, "nickname": "render-11", "status": "awake", "last_activity": now,
                         "supported_task_types": ["sleep"], "blocklist": [{"job": job_id, "task_type": "sleep"}]}]})
        assert response.status_code == 204, response.text

    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    row = page.locator(f'#job-blocklist tr[data-blocked-worker="{worker_id}"]')
    row.wait_for()
    assert row.locator("td").first.inner_text() == "sleep"
    page.locator("#job-blocklist").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "job-blocklist.png"), full_page=True)

    row.get_by_role("button", name="Remove render-11 from the sleep blocklist").click()
    page.locator("#flash", has_text="Asked the Manager to let render-11 run sleep tasks").wait_for()
    row.get_by_text("removal requested").wait_for()
    pending = mongo_db["flamenco_managers"].find_one({"_id": farm["manager"]["_id"]})["pending_worker_actions"]
    [action] = pending.values()
    assert (action["action"], action["worker"], str(action["job"]), action["task_type"]) == \
        ("remove-from-blocklist", worker_id, job_id, "sleep")
