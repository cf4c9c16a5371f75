"""Inline priority edit on the job list and job page (issue 14).

The control is a number input for users who may change the job; it saves
through the REST API's ``set-job-priority`` op with the session's CSRF token,
exactly as ``modules/priority.js`` sends it.
"""
from __future__ import annotations

import re

from tests.web.conftest import csrf_from

PRIORITY_INPUT = re.compile(r'<input type="number" class="priority-input"[^>]*data-job-priority="([0-9a-f]{24})"[^>]*>')


def inputs(html: str) -> dict[str, str]:
    """Job id -> the whole <input> tag of its priority control."""
    return {m.group(1): m.group(0) for m in PRIORITY_INPUT.finditer(html)}


def set_priority(client, page_url: str, job: dict, priority: object):
    token = csrf_from(client.get(page_url).get_data(as_text=True))
    return client.patch(f"/api/flamenco/jobs/{job['_id']}", json={"op": "set-job-priority", "priority": priority},
                        headers={"X-CSRFToken": token, "Accept": "application/json"})


def test_members_get_a_priority_input_on_the_list_and_the_job_page(alice, jobs_of):
    job = jobs_of(name="shot 20", status="queued", priority=70)
    for page in ("/p/spring/jobs/", "/p/spring/jobs/rows", f"/p/spring/jobs/{job['_id']}"):
        control = inputs(alice.get(page).get_data(as_text=True)).get(str(job["_id"]))
        assert control is not None, page
        assert 'value="70"' in control and 'min="1"' in control and 'max="100"' in control
        assert f'data-priority-url="/api/flamenco/jobs/{job["_id"]}"' in control


def test_viewers_and_frozen_jobs_show_a_plain_number(client_as, jobs_of):
    queued = jobs_of(name="queued one", status="queued", priority=30)
    archived = jobs_of(name="old one", status="archived", task_statuses=(), priority=40)
    vic_html = client_as("vic").get(f"/p/spring/jobs/{queued['_id']}").get_data(as_text=True)
    assert inputs(vic_html) == {}
    assert f'<span class="priority-value" data-job-priority="{queued["_id"]}">30</span>' in vic_html
    alice_html = client_as("alice").get(f"/p/spring/jobs/{archived['_id']}").get_data(as_text=True)
    assert inputs(alice_html) == {}
    assert f'data-job-priority="{archived["_id"]}">40</span>' in alice_html


def test_the_control_saves_through_the_api_and_every_page_shows_it(alice, client_as, mongo_db, jobs_of):
    job = jobs_of(name="shot 30", status="active", task_statuses=("active", "queued"), priority=50)
    response = set_priority(alice, "/p/spring/jobs/", job, 85)
    assert response.status_code in (200, 204), response.get_data(as_text=True)
    assert mongo_db["flamenco_jobs"].find_one({"_id": job["_id"]})["priority"] == 85
    assert 'value="85"' in inputs(alice.get("/p/spring/jobs/rows").get_data(as_text=True))[str(job["_id"])]
    assert f'data-job-priority="{job["_id"]}">85</span>' in client_as("vic").get(
        f"/p/spring/jobs/{job['_id']}").get_data(as_text=True)


def test_refusals_name_the_field(alice, mongo_db, jobs_of):
    job = jobs_of(name="shot 40", status="queued", priority=50)
    for value, field in ((0, "priority"), (101, "priority"), ("high", "priority")):
        response = set_priority(alice, "/p/spring/jobs/", job, value)
        assert response.status_code == 422 and field in response.get_json()["_issues"], value
    mongo_db["flamenco_jobs"].update_one({"_id": job["_id"]}, {"$set": {"status": "archived"}})
    response = set_priority(alice, "/p/spring/jobs/", job, 60)
    assert response.status_code == 409
    assert "cannot change" in response.get_json()["_issues"]["status"]
    assert mongo_db["flamenco_jobs"].find_one({"_id": job["_id"]})["priority"] == 50
