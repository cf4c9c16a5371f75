"""The job page's Blocklist section (issue 14): the workers the job's Manager keeps from its task types,
as the Manager reported them through the Manager API, with removal for the Manager's owners."""
from __future__ import annotations

import base64
import re
import datetime

from bson import ObjectId

from tests.web.conftest import csrf_from


def report_workers(app, farm: dict, workers: list[dict]) -> None:
    """An update notification carrying the worker report, as an issue-14 Manager sends it."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    body = {"_meta": {"version": 2}, "manager_url": "http://manager.local:8083/", "variables": {},
            "nr_of_workers": len(workers), "worker_task_types": ["blender-render"],
            "workers": workers, "workers_reported_at": now}
    auth = base64.b64encode(f"{farm['manager_token']}:".encode()).decode()
    response = app.test_client().post(f"/api/flamenco/managers/{farm['manager']['_id']}/update", json=body,
                                      headers={"Authorization": f"Basic {auth}"})
    assert response.status_code == 204, response.get_data(as_text=True)


def worker(nickname: str, *blocked: tuple[ObjectId, str]) -> dict:
    return {"_id": str(ObjectId()), "nickname": nickname, "status": "awake", "platform": "linux",
            "supported_task_types": ["blender-render", "file-management"],
            "last_activity": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "blocklist": [{"job": str(job), "task_type": task_type} for job, task_type in blocked]}


def section(client, job: dict) -> str:
    response = client.get(f"/p/spring/jobs/{job['_id']}/blocklist")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_job_page_has_a_blocklist_section(alice, jobs_of):
    job = jobs_of(name="shot 70", status="active")
    html = alice.get(f"/p/spring/jobs/{job['_id']}").get_data(as_text=True)
    assert 'id="job-blocklist"' in html and f'data-url="/p/spring/jobs/{job["_id"]}/blocklist"' in html


def test_lists_the_workers_blocklisted_for_this_job_per_task_type(app, alice, farm, jobs_of):
    job, other_job = jobs_of(name="shot 71", status="active"), jobs_of(name="shot 72", status="active")
    report_workers(app, farm, [
        worker("render-07", (job["_id"], "blender-render"), (other_job["_id"], "file-management")),
        worker("render-02", (job["_id"], "blender-render"), (job["_id"], "file-management")),
        worker("render-09", (other_job["_id"], "blender-render")),
    ])
    html = section(alice, job)
    rows = [(tt, name) for tt, name in
            re.findall(r'data-task-type="([^"]+)">\s*<td>[^<]*</td>\s*<td>([^<]+)</td>', html)]
    assert rows == [("blender-render", "render-02"), ("blender-render", "render-07"),
                    ("file-management", "render-02")]
    assert "render-09" not in html
    assert html.count("data-remove-blocklist") == 3  # alice owns the Manager


def test_viewers_see_the_list_without_remove_buttons(app, client_as, farm, jobs_of):
    job = jobs_of(name="shot 73", status="active")
    report_workers(app, farm, [worker("render-05", (job["_id"], "blender-render"))])
    html = section(client_as("vic"), job)
    assert "render-05" in html and "data-remove-blocklist" not in html
    assert client_as("olga").get(f"/p/spring/jobs/{job['_id']}/blocklist").status_code == 404


def test_a_manager_that_reports_no_workers_is_not_an_empty_blocklist(app, alice, farm, jobs_of):
    job = jobs_of(name="shot 74", status="active")
    assert "has not reported its workers" in section(alice, job)
    report_workers(app, farm, [worker("render-01")])
    assert "No worker is blocklisted for this job" in section(alice, job)


def test_removal_is_queued_for_the_manager_and_shown_pending(app, alice, farm, mongo_db, jobs_of):
    job = jobs_of(name="shot 75", status="active")
    blocked = worker("render-03", (job["_id"], "blender-render"))
    report_workers(app, farm, [blocked])
    token = csrf_from(alice.get(f"/p/spring/jobs/{job['_id']}").get_data(as_text=True))
    response = alice.post(f"/api/flamenco/workers/{farm['manager']['_id']}/{blocked['_id']}/actions",
                          json={"action": "remove-from-blocklist", "job": str(job["_id"]),
                                "task_type": "blender-render"},
                          headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert response.status_code == 201, response.get_data(as_text=True)
    html = section(alice, job)
    assert "removal requested" in html and "data-remove-blocklist" not in html
