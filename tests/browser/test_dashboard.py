"""The dashboard in a real browser against a real server process.

Log in, submit a job through the API, watch it change status live on the job
list (no reload), cancel it with a multi-select action, open its job view and
a task with a live log tail. Status changes that Managers cause are made with
``flamenco.status`` plus ``flamenco.live_feed.publish``, exactly what the Manager
API does on a task update.
"""
from __future__ import annotations

import pytest
from bson import ObjectId

from flamenco import status
from flamenco.web import live_feed
from tests.browser.helpers import log_in, wait_until_live
from tests.support.server import job_doc, post_job

pytestmark = pytest.mark.browser


def manager_reports(db, redis_url: str, task_id: ObjectId, new_status: str, **fields) -> None:
    """What the Manager API does for one task update: status rules, then live events."""
    change = status.set_task_status(db, task_id, new_status, actor=status.Actor.MANAGER, extra_fields=fields)
    task = db["flamenco_tasks"].find_one({"_id": task_id})
    live_feed.publish("task", task, url=redis_url)
    live_feed.publish("job", db["flamenco_jobs"].find_one({"_id": change.job_id}), url=redis_url)


def test_submit_watch_cancel_and_read_log(page, server, farm, mongo_db, redis_url, screenshot_dir):
    log_in(page, server)
    assert page.get_by_role("link", name="Spring Shot").is_visible()

    response = post_job(server, farm["token"], job_doc(farm["project"], farm["manager"], farm["alice"],
                                                       name="Shot 010 lighting"))
    assert response.status_code == 201, response.text
    job_id = ObjectId(response.json()["_id"])

    page.get_by_role("link", name="Spring Shot").click()
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    assert row.locator(".status").get_attribute("data-status") == "queued"
    wait_until_live(page)
    page.evaluate("window.__sameDocument = true")

    # A worker starts a task: the list shows the job active without a reload.
    first_task = mongo_db["flamenco_tasks"].find_one({"job": job_id}, sort=[("_id", 1)])
    manager_reports(mongo_db, redis_url, first_task["_id"], "active", activity="rendering frame 1")
    row.locator('.status[data-status="active"]').wait_for()
    assert page.evaluate("window.__sameDocument") is True
    page.screenshot(path=str(screenshot_dir / "job-list.png"), full_page=True)

    # Multi-select cancel, confirmed.
    row.get_by_role("checkbox").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()
    page.locator(f'tr[data-job-id="{job_id}"] .status[data-status="cancel-requested"]').wait_for()
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["status"] == "cancel-requested"
    assert page.evaluate("window.__sameDocument") is True

    # The job view: progress, counts, tasks.
    page.get_by_role("link", name="Shot 010 lighting").click()
    page.wait_for_selector("#depsgraph svg")
    assert page.locator(".job-status-line .status").get_attribute("data-status") == "cancel-requested"
    page.screenshot(path=str(screenshot_dir / "job-view.png"), full_page=True)

    # The task view with a live log tail.
    page.get_by_role("link", name=first_task["name"], exact=True).click()
    wait_until_live(page)
    manager_reports(mongo_db, redis_url, first_task["_id"], "canceled",
                    log="Fra:1 Mem:12M | Rendering 1/4 samples\nCanceled by the Manager")
    page.locator("#task-log", has_text="Canceled by the Manager").wait_for()
    assert page.locator(".status").first.get_attribute("data-status") == "canceled"
    page.screenshot(path=str(screenshot_dir / "task-view.png"), full_page=True)

    # The Manager finished cancelling: the job is canceled.
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["status"] == "canceled"


def test_error_pages_are_readable(page, server, farm):
    log_in(page, server)
    response = page.goto(f"{server}/p/no-such-project/jobs/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert page.get_by_role("link", name="Back to your projects").is_visible()
