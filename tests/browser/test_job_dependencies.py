"""The dashboard shows job dependencies: the job list says what a waiting job waits for, the job page
lists "Waits for" / "Needed by" with links and statuses that follow the related jobs live."""
from __future__ import annotations

from pathlib import Path

from bson import ObjectId
from playwright.sync_api import expect
from pymongo.database import Database

from tests.browser.helpers import log_in, manager_api, mark_same_document, report_task_status, still_same_document, \
    wait_until_live
from tests.support.server import job_doc, post_job


def submit(server: str, farm: dict, name: str, **fields) -> str:
    doc = job_doc(farm["project"], farm["manager"], farm["alice"], name=name, **fields)
    response = post_job(server, farm["token"], doc)
    assert response.status_code == 201, response.text
    return response.json()["_id"]


def test_waiting_job_shows_what_it_waits_for_and_is_released_live(page, server: str, farm: dict,
                                                                  mongo_db: Database, tmp_path: Path) -> None:
    render = submit(server, farm, "render-A")
    comp = submit(server, farm, "comp", depends_on=[render], on_dependency_failure="wait")
    log_in(page, server)

    page.goto(f"{server}/p/spring/jobs/")
    row = page.locator(f'tr[data-job-id="{comp}"]')
    expect(row.locator(".job-status .status")).to_have_text("waiting for jobs")
    expect(row.locator(".waits-for")).to_have_text("Waiting for 1 job: 'render-A' (queued)")
    page.screenshot(path=str(tmp_path / "job-list-waiting.png"), full_page=True)

    page.goto(f"{server}/p/spring/jobs/{comp}")
    wait_until_live(page)
    mark_same_document(page)
    waits_for = page.locator('[data-dependencies="waits-for"] li')
    expect(waits_for).to_have_count(1)
    expect(waits_for.get_by_role("link", name="render-A")).to_have_attribute("href", f"/p/spring/jobs/{render}")
    expect(waits_for.locator(".status")).to_have_text("queued")
    expect(page.locator(".dependency-policy")).to_contain_text("keeps waiting until that job is requeued")
    expect(page.locator(".job-status-line")).to_contain_text("Waiting for 1 job: 'render-A' (queued)")
    page.screenshot(path=str(tmp_path / "job-waiting.png"), full_page=True)

    with manager_api(server, farm["manager"], farm["manager_token"]) as client:
        first, *rest = mongo_db["flamenco_tasks"].find({"job": ObjectId(render)})
        report_task_status(client, first["_id"], "completed")  # render-A becomes active; comp itself is unchanged
        expect(waits_for.locator(".status")).to_have_text("active")
        for task in rest:
            report_task_status(client, task["_id"], "completed")
    expect(waits_for.locator(".status")).to_have_text("completed")
    expect(page.locator(".job-status-line .status")).to_have_text("queued")
    expect(page.locator(".job-status-line")).to_contain_text("Released: the 1 job it waited for completed")
    assert still_same_document(page)
    page.screenshot(path=str(tmp_path / "job-released.png"), full_page=True)

    page.get_by_role("link", name="render-A").click()
    needed_by = page.locator('[data-dependencies="needed-by"] li')
    expect(needed_by.get_by_role("link", name="comp")).to_be_visible()
    expect(needed_by.locator(".status")).to_have_text("queued")
