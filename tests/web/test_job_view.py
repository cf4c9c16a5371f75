"""One job: summary, task table, dependency graph, actions; and one task."""
from __future__ import annotations

import re

from bson import ObjectId

from tests.web.conftest import csrf_from


def post_action(client, url: str, page_url: str, body: dict):
    token = csrf_from(client.get(page_url).get_data(as_text=True))
    return client.post(url, json=body, headers={"X-CSRFToken": token, "Accept": "application/json"})


def test_job_page_shows_counts_settings_and_tasks(alice, jobs_of):
    job = jobs_of(name="shot 10", status="active", task_statuses=("completed", "active", "queued", "queued"))
    response = alice.get(f"/p/spring/jobs/{job['_id']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'aria-valuenow="25"' in html  # 1 of 4 completed
    assert re.search(r'data-count-status="queued">2<', html)
    assert "shot 10-task-3" in html
    assert "frames" in html and "1-4" in html
    assert 'data-job-action="cancel"' in html and 'data-job-action="requeue"' not in html


def test_job_of_another_project_or_bad_id_is_404(alice, mongo_db, farm, jobs_of):
    job = jobs_of(name="elsewhere")
    mongo_db["flamenco_jobs"].update_one({"_id": job["_id"]}, {"$set": {"project": ObjectId()}})
    assert alice.get(f"/p/spring/jobs/{job['_id']}").status_code == 404
    assert alice.get("/p/spring/jobs/not-an-id").status_code == 404


def test_job_without_readable_manager_still_renders(alice, mongo_db, jobs_of):
    job = jobs_of(name="orphan", manager=ObjectId())
    assert alice.get(f"/p/spring/jobs/{job['_id']}").status_code == 200


def test_dependency_graph_data(alice, mongo_db, jobs_of):
    job = jobs_of(name="graph", task_statuses=("queued", "queued", "queued"))
    render_a, render_b, video = job["tasks"]
    mongo_db["flamenco_tasks"].update_one({"_id": video["_id"]},
                                          {"$set": {"parents": [render_a["_id"], render_b["_id"]]}})
    data = alice.get(f"/p/spring/jobs/{job['_id']}/depsgraph.json").get_json()
    assert {n["id"] for n in data["nodes"]} == {str(t["_id"]) for t in job["tasks"]}
    assert sorted((e["source"], e["target"]) for e in data["edges"]) == sorted(
        [(str(render_a["_id"]), str(video["_id"])), (str(render_b["_id"]), str(video["_id"]))])
    assert data["truncated"] is False


def test_cancel_several_jobs_reports_what_was_skipped(alice, mongo_db, jobs_of):
    queued = jobs_of(name="queued job", status="queued", task_statuses=("queued", "queued"))
    done = jobs_of(name="done job", status="completed", task_statuses=("completed",))
    response = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/",
                           {"action": "cancel", "jobs": [str(queued["_id"]), str(done["_id"])]})
    assert response.status_code == 200
    result = response.get_json()
    assert result["done"] == [str(queued["_id"])]
    assert [s["_id"] for s in result["skipped"]] == [str(done["_id"])]
    assert "done job" in result["skipped"][0]["reason"]
    assert mongo_db["flamenco_jobs"].find_one({"_id": queued["_id"]})["status"] == "canceled"
    assert {t["status"] for t in mongo_db["flamenco_tasks"].find({"job": queued["_id"]})} == {"canceled"}
    assert mongo_db["flamenco_jobs"].find_one({"_id": done["_id"]})["status"] == "completed"


def test_requeue_and_pause(alice, mongo_db, jobs_of):
    canceled = jobs_of(name="again", status="canceled", task_statuses=("canceled", "completed"))
    queued = jobs_of(name="hold", status="queued", task_statuses=("queued",))
    result = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/",
                         {"action": "requeue", "jobs": [str(canceled["_id"])]}).get_json()
    assert result["done"] == [str(canceled["_id"])]
    assert mongo_db["flamenco_jobs"].find_one({"_id": canceled["_id"]})["status"] == "queued"
    result = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/",
                         {"action": "pause", "jobs": [str(queued["_id"])]}).get_json()
    assert result["done"] == [str(queued["_id"])]
    assert mongo_db["flamenco_jobs"].find_one({"_id": queued["_id"]})["status"] == "paused"


def test_recreate_rebuilds_finished_jobs_and_skips_running_ones(alice, mongo_db, jobs_of):
    settings = {"frames": "1-4", "chunk_size": 2, "time_in_seconds": 1}
    done = jobs_of(name="rebuild me", status="completed", task_statuses=("completed",), settings=settings)
    running = jobs_of(name="busy", status="active", task_statuses=("active",), settings=settings)
    page = alice.get(f"/p/spring/jobs/{done['_id']}").get_data(as_text=True)
    assert 'data-job-action="recreate"' in page
    result = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/",
                         {"action": "recreate", "jobs": [str(done["_id"]), str(running["_id"])]}).get_json()
    assert result["done"] == [str(done["_id"])]
    assert "busy" in result["skipped"][0]["reason"] and "can be recreated" in result["skipped"][0]["reason"]
    job = mongo_db["flamenco_jobs"].find_one({"_id": done["_id"]})
    assert job["status"] == "queued" and job["status_reason"] == "Recreated by Alice Artist (@alice) from the dashboard"
    names = sorted(t["name"] for t in mongo_db["flamenco_tasks"].find({"job": done["_id"]}))
    assert names == ["sleep-1,2", "sleep-3,4"]
    assert mongo_db["flamenco_jobs"].find_one({"_id": running["_id"]})["status"] == "active"
    assert mongo_db["flamenco_tasks"].count_documents({"job": running["_id"]}) == 1


def test_archive_then_delete_archived(alice, mongo_db, jobs_of):
    done = jobs_of(name="finished", status="completed", task_statuses=("completed",))
    result = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/",
                         {"action": "archive", "jobs": [str(done["_id"])]}).get_json()
    assert result["done"] == [str(done["_id"])]
    job = mongo_db["flamenco_jobs"].find_one({"_id": done["_id"]})
    assert job["status"] == "archiving" and job["pre_archive_status"] == "completed"
    # Only archived jobs may be deleted; this one is still being archived.
    result = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/",
                         {"action": "delete-archived", "jobs": [str(done["_id"])]}).get_json()
    assert result["done"] == [] and "only archived jobs" in result["skipped"][0]["reason"]
    archived = jobs_of(name="archived", status="archived", task_statuses=())
    result = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/",
                         {"action": "delete-archived", "jobs": [str(archived["_id"])]}).get_json()
    assert result["done"] == [str(archived["_id"])]
    assert mongo_db["flamenco_jobs"].find_one({"_id": archived["_id"]}) is None


def test_bad_action_requests_are_400_with_the_field(alice, jobs_of):
    job = jobs_of(name="j")
    for body, field in (({"action": "explode", "jobs": [str(job["_id"])]}, "action"),
                        ({"action": "cancel", "jobs": []}, "jobs"),
                        ({"action": "cancel", "jobs": ["zzz"]}, "jobs"),
                        ({"action": "cancel"}, "jobs")):
        response = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/", body)
        assert response.status_code == 400, body
        assert field in response.get_json()["_issues"]


def test_form_posted_action_and_malformed_json(alice, mongo_db, jobs_of):
    job = jobs_of(name="form", status="queued")
    token = csrf_from(alice.get("/p/spring/jobs/").get_data(as_text=True))
    response = alice.post("/p/spring/jobs/actions", data={"action": "pause", "jobs": [str(job["_id"])],
                                                          "csrf_token": token})
    assert response.get_json()["done"] == [str(job["_id"])]
    response = alice.post("/p/spring/jobs/actions", data="[1, 2]", content_type="application/json",
                          headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert response.status_code == 400 and "body" in response.get_json()["_issues"]


def test_actions_need_csrf_and_change_rights(client_as, mongo_db, jobs_of):
    job = jobs_of(name="protected", status="queued")
    alice = client_as("alice")
    response = alice.post("/p/spring/jobs/actions", json={"action": "cancel", "jobs": [str(job["_id"])]})
    assert response.status_code == 400
    vic = client_as("vic")
    response = post_action(vic, "/p/spring/jobs/actions", "/p/spring/jobs/",
                           {"action": "cancel", "jobs": [str(job["_id"])]})
    assert response.status_code == 403
    assert mongo_db["flamenco_jobs"].find_one({"_id": job["_id"]})["status"] == "queued"


def test_task_page_shows_commands_log_and_failed_by(alice, mongo_db, jobs_of):
    job = jobs_of(name="render", status="active", task_statuses=("failed",))
    task = job["tasks"][0]
    mongo_db["flamenco_tasks"].update_one({"_id": task["_id"]}, {"$set": {
        "log": "Fra:1 Mem:12M | Rendering 1/4 samples\nBlender quit", "activity": "Blender quit",
        "failed_by_workers": [{"id": ObjectId(), "identifier": "render-node-7"}], "worker": "render-node-7"}})
    html = alice.get(f"/p/spring/tasks/{task['_id']}").get_data(as_text=True)
    assert "Rendering 1/4 samples" in html
    assert "render-node-7" in html
    assert "time_in_seconds" in html
    assert 'data-task-action="requeue"' in html
    assert f'data-request-log="/api/flamenco/tasks/{task["_id"]}"' in html


def test_task_requeue_action(alice, mongo_db, jobs_of):
    job = jobs_of(name="render", status="active", task_statuses=("failed", "queued", "queued", "queued",
                                                                   "queued", "queued", "queued", "queued",
                                                                   "queued", "queued", "queued"))
    task = job["tasks"][0]
    page = f"/p/spring/tasks/{task['_id']}"
    result = post_action(alice, f"{page}/actions", page, {"action": "requeue"}).get_json()
    assert result["done"] == [str(task["_id"])]
    assert mongo_db["flamenco_tasks"].find_one({"_id": task["_id"]})["status"] == "queued"
    result = post_action(alice, f"{page}/actions", page, {"action": "requeue"}).get_json()
    assert result["done"] == [] and result["skipped"]


def test_task_log_hidden_from_accounts_without_log_capability(client_as, mongo_db, farm, jobs_of):
    mongo_db["users"].update_one({"_id": farm["vic"]["_id"]}, {"$set": {"roles": ["flamenco-viewer"]}})
    job = jobs_of(name="render", task_statuses=("active",))
    mongo_db["flamenco_tasks"].update_one({"_id": job["tasks"][0]["_id"]}, {"$set": {"log": "SECRET PATH"}})
    html = client_as("vic").get(f"/p/spring/tasks/{job['tasks'][0]['_id']}").get_data(as_text=True)
    assert "SECRET PATH" not in html
    assert "may not view task logs" in html


def test_recreate_skips_a_job_that_runs_programs_for_a_plain_member(alice, mongo_db, jobs_of):
    """The dashboard's Recreate goes through the same program gate as the API (issue 13)."""
    job = jobs_of(name="shell", status="completed", task_statuses=("completed",), job_type="exec-command",
                  settings={"cmd": "cat /etc/passwd"})
    result = post_action(alice, "/p/spring/jobs/actions", "/p/spring/jobs/",
                         {"action": "recreate", "jobs": [str(job["_id"])]}).get_json()
    assert result["done"] == []
    assert "job_type" in result["skipped"][0]["reason"] and "flamenco-run-programs" in result["skipped"][0]["reason"]
    assert [t["_id"] for t in mongo_db["flamenco_tasks"].find({"job": job["_id"]})] == [job["tasks"][0]["_id"]]


DELETE_BUTTON = re.compile(r'<button[^>]*data-delete-job="([^"]+)"[^>]*>Delete</button>', re.S)


def test_job_page_offers_delete_with_confirmation_to_members_only(client_as, jobs_of):
    done = jobs_of(name="finished", status="completed", task_statuses=("completed",))
    html = client_as("alice").get(f"/p/spring/jobs/{done['_id']}").get_data(as_text=True)
    button = DELETE_BUTTON.search(html)
    assert button and button.group(1) == f"/api/flamenco/jobs/{done['_id']}"
    assert 'data-confirm="Delete this job for good?' in button.group(0)
    assert "data-blocked" not in button.group(0)
    viewer_html = client_as("vic").get(f"/p/spring/jobs/{done['_id']}").get_data(as_text=True)
    assert DELETE_BUTTON.search(viewer_html) is None


def test_delete_of_a_running_job_says_to_cancel_it_first(alice, jobs_of):
    running = jobs_of(name="running", status="active", task_statuses=("active",))
    button = DELETE_BUTTON.search(alice.get(f"/p/spring/jobs/{running['_id']}").get_data(as_text=True))
    assert button and "This job is active" in button.group(0) and "Cancel it first" in button.group(0)


def test_the_pages_delete_request_deletes_a_finished_job_and_refuses_a_running_one(alice, mongo_db, jobs_of):
    """The button's request, as the page's script sends it: session, CSRF header, If-Match."""
    done = jobs_of(name="finished", status="completed", task_statuses=("completed",))
    running = jobs_of(name="running", status="active", task_statuses=("active",))
    page = alice.get(f"/p/spring/jobs/{done['_id']}").get_data(as_text=True)
    token = csrf_from(page)
    etag = re.search(r'data-etag="([^"]*)"', page).group(1)
    headers = {"X-CSRFToken": token, "If-Match": etag, "Accept": "application/json"}
    response = alice.delete(f"/api/flamenco/jobs/{running['_id']}", headers=headers | {"If-Match": "x"})
    assert response.status_code == 409 and "status" in response.get_json()["_issues"]
    assert alice.delete(f"/api/flamenco/jobs/{done['_id']}", headers=headers).status_code == 204
    assert mongo_db["flamenco_jobs"].find_one({"_id": done["_id"]}) is None
    assert mongo_db["flamenco_tasks"].count_documents({"job": done["_id"]}) == 0
    assert mongo_db["flamenco_jobs"].find_one({"_id": running["_id"]})["status"] == "active"
