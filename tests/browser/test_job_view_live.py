"""The job and task pages (issue 14 #6, #7): a live dependency graph that scrolls in its box,
command JSON that stays on the page, and deleting a job from its page."""
from __future__ import annotations

import pytest
from bson import ObjectId

from tests.browser.helpers import (log_in, manager_api, mark_same_document, report_task_status,
                                   still_same_document, wait_until_live)
from tests.support.server import job_doc, post_job

pytestmark = pytest.mark.browser

# Twelve chained tasks are about 2,300 px wide and 48 tasks about 2,200 px
# high: more than the graph's box on a laptop screen either way.
FRAMES = "1-48"
CHAIN_LENGTH = 12


def submit(server: str, farm: dict, name: str, frames: str = "1-12", chunk_size: int = 4) -> ObjectId:
    doc = job_doc(farm["project"], farm["manager"], farm["alice"], name=name,
                  settings={"frames": frames, "chunk_size": chunk_size, "time_in_seconds": 1})
    response = post_job(server, farm["token"], doc)
    assert response.status_code == 201, response.text
    return ObjectId(response.json()["_id"])


def tasks_of(db, job_id: ObjectId) -> list[dict]:
    return list(db["flamenco_tasks"].find({"job": job_id}, sort=[("_id", 1)]))


def node(page, task_id: ObjectId):
    return page.locator(f'#depsgraph a.node[data-task-id="{task_id}"]')


def test_graph_node_follows_task_status_live(page, server, farm, mongo_db, tmp_path):
    job_id = submit(server, farm, "Live graph")
    first = tasks_of(mongo_db, job_id)[0]
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    assert node(page, first["_id"]).get_attribute("data-status") == "queued"
    wait_until_live(page)
    mark_same_document(page)

    with manager_api(server, farm["manager"], farm["manager_token"]) as manager:
        assert manager.get("/depsgraph").status_code == 200
        node(page, first["_id"]).and_(page.locator('[data-status="claimed-by-manager"]')).wait_for()
        report_task_status(manager, first["_id"], "active")
        node(page, first["_id"]).and_(page.locator('[data-status="active"]')).wait_for()
        report_task_status(manager, first["_id"], "completed")
        node(page, first["_id"]).and_(page.locator('[data-status="completed"]')).wait_for()

    assert node(page, first["_id"]).locator("rect").get_attribute("class") == "status-fill-completed"
    assert still_same_document(page)
    page.screenshot(path=str(tmp_path / "job-graph-live.png"), full_page=True)


def test_big_graph_scrolls_inside_its_box(page, server, farm, mongo_db, tmp_path):
    job_id = submit(server, farm, "Big graph", frames=FRAMES, chunk_size=1)
    tasks = tasks_of(mongo_db, job_id)
    for parent, child in zip(tasks[:CHAIN_LENGTH - 1], tasks[1:CHAIN_LENGTH]):
        mongo_db["flamenco_tasks"].update_one({"_id": child["_id"]}, {"$set": {"parents": [parent["_id"]]}})
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    page.wait_for_selector("#depsgraph svg")
    box = page.evaluate("""() => {
        const box = document.getElementById('depsgraph');
        const rect = box.getBoundingClientRect();
        return {scrollWidth: box.scrollWidth, clientWidth: box.clientWidth, scrollHeight: box.scrollHeight,
                clientHeight: box.clientHeight, right: rect.right, pageWidth: document.documentElement.clientWidth,
                docScrollWidth: document.documentElement.scrollWidth};
    }""")
    assert box["scrollWidth"] > box["clientWidth"] and box["scrollHeight"] > box["clientHeight"], box
    assert box["right"] <= box["pageWidth"] and box["docScrollWidth"] <= box["pageWidth"], box

    # Every node can be reached by scrolling the box: the end of the chain (far right), the
    # last task (far down).
    for task, scrolled in ((tasks[CHAIN_LENGTH - 1], "scrollLeft"), (tasks[-1], "scrollTop")):
        target = node(page, task["_id"])
        target.scroll_into_view_if_needed()
        assert target.is_visible()
        inside = page.evaluate("""(id) => {
            const box = document.getElementById('depsgraph').getBoundingClientRect();
            const n = document.querySelector(`#depsgraph a.node[data-task-id="${id}"]`).getBoundingClientRect();
            return n.left >= box.left - 1 && n.right <= box.right + 1 && n.top >= box.top - 1 && n.bottom <= box.bottom + 1;
        }""", str(task["_id"]))
        assert inside
        assert page.evaluate(f"document.getElementById('depsgraph').{scrolled}") > 0
    page.screenshot(path=str(tmp_path / "job-graph-scrolled.png"), full_page=True)


def fits(page, selector: str) -> dict:
    """Where the element's content and box end, against its card and the page."""
    return page.evaluate("""(selector) => {
        const element = document.querySelector(selector);
        const card = element.closest('.card').getBoundingClientRect();
        return {right: element.getBoundingClientRect().right, cardRight: card.right,
                scrollWidth: element.scrollWidth, clientWidth: element.clientWidth,
                pageWidth: document.documentElement.clientWidth,
                docScrollWidth: document.documentElement.scrollWidth};
    }""", selector)


def assert_fits(widths: dict) -> None:
    assert widths["scrollWidth"] <= widths["clientWidth"] + 1, widths  # nothing hidden to the right
    assert widths["right"] <= widths["cardRight"], widths
    assert widths["cardRight"] <= widths["pageWidth"] and widths["docScrollWidth"] <= widths["pageWidth"], widths


def test_long_command_json_and_settings_stay_inside_the_page(page, server, farm, mongo_db, tmp_path):
    job_id = submit(server, farm, "Long paths")
    task = tasks_of(mongo_db, job_id)[0]
    long_path = "/render/" + "very-long-directory-name-" * 20 + "frame-######.png"
    mongo_db["flamenco_tasks"].update_one({"_id": task["_id"]}, {"$set": {"commands": [
        {"name": "blender_render", "settings": {"filepath": long_path, "blender_cmd": "{blender}",
                                                "render_output": long_path, "frames": "1-4"}}]}})
    mongo_db["flamenco_jobs"].update_one({"_id": job_id}, {"$set": {"settings.render_output": long_path}})
    log_in(page, server)
    page.goto(f"{server}/p/spring/tasks/{task['_id']}")
    assert_fits(fits(page, ".commands pre"))
    page.screenshot(path=str(tmp_path / "task-commands.png"), full_page=True)

    page.goto(f"{server}/p/spring/jobs/{job_id}")
    assert_fits(fits(page, "table.settings"))
    page.screenshot(path=str(tmp_path / "job-settings.png"), full_page=True)


def test_delete_a_finished_job_from_its_page_after_confirming(page, server, farm, mongo_db, tmp_path):
    job_id = submit(server, farm, "Old render")
    mongo_db["flamenco_jobs"].update_one({"_id": job_id}, {"$set": {"status": "completed"}})
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    page.screenshot(path=str(tmp_path / "job-delete-button.png"), full_page=True)

    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete").click()
    page.wait_for_timeout(300)
    assert dialogs and dialogs[0].startswith("Delete this job for good?")
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id}) is not None

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{server}/p/spring/jobs/")
    page.locator("#flash", has_text="The job was deleted.").wait_for()
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id}) is None
    assert mongo_db["flamenco_tasks"].count_documents({"job": job_id}) == 0


def test_delete_of_a_running_job_says_to_cancel_first(page, server, farm, mongo_db, tmp_path):
    job_id = submit(server, farm, "Still rendering")
    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete").click()
    page.locator("#flash", has_text="Cancel it first").wait_for()
    assert dialogs == []
    assert mongo_db["flamenco_jobs"].find_one({"_id": job_id})["status"] == "queued"
    page.screenshot(path=str(tmp_path / "job-delete-refused.png"), full_page=True)
