"""The job list's controls (issue 14 #7): a compact status filter with the common statuses first,
and a Cancel that asks before it stops anything."""
from __future__ import annotations

import pytest
from bson import ObjectId

from flamenco.web import live_feed

from tests.browser.helpers import log_in, wait_until_live
from tests.support.server import job_doc, post_job

pytestmark = pytest.mark.browser

# The old 14-status multi-select was four rows (about 90 px) high; a drop-down is one line.
COMPACT_HEIGHT_PX = 45


def submit(server: str, farm: dict, name: str) -> ObjectId:
    response = post_job(server, farm["token"], job_doc(farm["project"], farm["manager"], farm["alice"], name=name))
    assert response.status_code == 201, response.text
    return ObjectId(response.json()["_id"])


def test_status_filter_is_compact_and_lists_common_statuses_first(page, server, farm, mongo_db, redis_url,
                                                                  tmp_path):
    done = submit(server, farm, "Finished shot")
    submit(server, farm, "Queued shot")
    mongo_db["flamenco_jobs"].update_one({"_id": done}, {"$set": {"status": "completed"}})
    live_feed.publish("job", mongo_db["flamenco_jobs"].find_one({"_id": done}), url=redis_url)
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/")
    summary = page.locator("[data-status-filter] summary")
    assert summary.bounding_box()["height"] <= COMPACT_HEIGHT_PX
    boxes = page.locator('[data-status-filter] input[name="status"]')
    assert not boxes.first.is_visible()

    summary.click()
    offered = boxes.evaluate_all("boxes => boxes.map((box) => box.value)")
    assert offered[:3] == ["active", "queued", "paused"]
    assert offered.index("under-construction") > offered.index("archived")
    page.screenshot(path=str(tmp_path / "job-list-status-filter.png"), full_page=True)

    page.get_by_label("completed", exact=True).check()
    assert summary.inner_text() == "completed"
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/jobs/?status=completed*")
    assert page.locator("tr[data-job-id]").evaluate_all("rows => rows.map((r) => r.dataset.jobId)") == [str(done)]
    assert page.locator("table.jobs caption").inner_text() == "1 job"


def test_cancel_asks_first_and_does_nothing_when_declined(page, server, farm, mongo_db, tmp_path):
    job_id = submit(server, farm, "Shot 020")
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/")
    wait_until_live(page)
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    row.get_by_role("checkbox").check()

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_timeout(500)
    assert asked and asked[0].startswith("Cancel the selected jobs?")
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["status"] == "queued"

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()
    # Nothing of it ran yet, so it is canceled at once.
    row.locator('.status[data-status="canceled"]').wait_for()
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["status"] == "canceled"
    page.screenshot(path=str(tmp_path / "job-list-canceled.png"), full_page=True)


def test_cancel_on_the_job_page_asks_first(page, server, farm, mongo_db):
    job_id = submit(server, farm, "Shot 030")
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_timeout(500)
    assert asked and asked[0].startswith("Cancel this job?")
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["status"] == "queued"
