"""Inline priority edit in Chromium (issue 14): Enter saves, the value persists, other open pages
follow live, and a job archived meanwhile refuses with a readable message."""
from __future__ import annotations

import time

import pytest
from bson import ObjectId
from playwright.sync_api import expect

from tests.browser.helpers import log_in, manager_api, mark_same_document, still_same_document, wait_until_live
from tests.support.server import job_doc, post_job

pytestmark = pytest.mark.browser


def submit(server: str, farm: dict, name: str) -> ObjectId:
    doc = job_doc(farm["project"], farm["manager"], farm["alice"], name=name, priority=50,
                  settings={"frames": "1-4", "chunk_size": 2, "time_in_seconds": 1})
    response = post_job(server, farm["token"], doc)
    assert response.status_code == 201, response.text
    return ObjectId(response.json()["_id"])


def priority_input(page, job_id: ObjectId):
    return page.locator(f'input[data-job-priority="{job_id}"]')


def test_priority_edit_on_the_list_and_job_page(browser, page, server, farm, mongo_db, tmp_path):
    job_id = submit(server, farm, "Shot 050 comp")
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/")
    wait_until_live(page)
    mark_same_document(page)

    field = priority_input(page, job_id)
    field.fill("80")
    field.press("Enter")
    page.locator("#flash", has_text="Priority of Shot 050 comp set to 80").wait_for()
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["priority"] == 80
    assert still_same_document(page)
    page.screenshot(path=str(tmp_path / "priority-job-list.png"), full_page=True)
    page.reload()
    assert priority_input(page, job_id).input_value() == "80"

    # Someone else has the job list open: the change on the job page reaches it live.
    other = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
    log_in(other, server)
    other.goto(f"{server}/p/spring/jobs/")
    wait_until_live(other)

    page.goto(f"{server}/p/spring/jobs/{job_id}")
    field = priority_input(page, job_id)
    field.fill("95")
    field.press("Enter")
    page.locator("#flash", has_text="set to 95").wait_for()
    expect(priority_input(other, job_id)).to_have_value("95")
    page.screenshot(path=str(tmp_path / "priority-job-page.png"), full_page=True)
    page.reload()
    assert priority_input(page, job_id).input_value() == "95"
    assert mongo_db["flamenco_tasks"].count_documents({"job": job_id, "job_priority": 95}) == 2
    other.context.close()


def test_a_job_archived_meanwhile_refuses_with_a_message(page, server, farm, mongo_db, tmp_path):
    job_id = submit(server, farm, "Shot 060 old")
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    mongo_db["flamenco_jobs"].update_one({"_id": job_id}, {"$set": {"status": "archived"}})

    field = priority_input(page, job_id)
    field.fill("10")
    field.press("Enter")
    page.locator("#flash.flash-error", has_text="not changed").wait_for()
    assert "the priority of a archived job cannot change" in page.locator("#flash").inner_text()
    assert field.input_value() == "50"
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["priority"] == 50
    page.screenshot(path=str(tmp_path / "priority-refused.png"), full_page=True)


def test_an_edit_in_progress_survives_a_live_refresh_of_the_list(page, server, farm, mongo_db):
    """The job list re-renders its rows on every live event; a half-typed priority stays, focused."""
    job_id = submit(server, farm, "Shot 070 busy")
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/")
    wait_until_live(page)
    field = priority_input(page, job_id)
    field.fill("3")
    old_row = page.locator(f'tr[data-job-id="{job_id}"]').element_handle()
    with manager_api(server, farm["manager"], farm["manager_token"]) as manager:
        assert manager.get("/depsgraph").status_code == 200  # the job's tasks are claimed: rows re-render
    deadline = time.monotonic() + 15
    while old_row.evaluate("row => row.isConnected"):
        assert time.monotonic() < deadline, "the job list did not re-render its rows"
        page.wait_for_timeout(100)
    field = priority_input(page, job_id)
    expect(field).to_have_value("3")
    expect(field).to_be_focused()
    field.press("Enter")
    page.locator("#flash", has_text="set to 3").wait_for()
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["priority"] == 3
