"""The task page's log in Chromium (issue 14): the whole log shown, earlier pages on request, and
new lines from a Manager's task-update batches appearing without a reload."""
from __future__ import annotations

import datetime

import pytest
from bson import ObjectId

from tests.browser.helpers import log_in, manager_api, mark_same_document, still_same_document, wait_until_live
from tests.support.server import job_doc, post_job

pytestmark = pytest.mark.browser


def claimed_task(server: str, farm: dict, mongo_db, manager) -> dict:
    """A submitted job's first task, handed to the Manager by its depsgraph pull."""
    doc = job_doc(farm["project"], farm["manager"], farm["alice"], name="Log tail",
                  settings={"frames": "1-4", "chunk_size": 4, "time_in_seconds": 1})
    response = post_job(server, farm["token"], doc)
    assert response.status_code == 201, response.text
    assert manager.get("/depsgraph").status_code == 200
    return mongo_db["flamenco_tasks"].find_one({"job": ObjectId(response.json()["_id"])})


def push_log(manager, task_id: ObjectId, at: str, text: str, task_status: str = "active") -> None:
    update = {"_id": str(ObjectId()), "task_id": str(task_id), "task_status": task_status,
              "received_on_manager": at, "log": text, "activity": text.splitlines()[-1]}
    response = manager.post("/task-update-batch", json=[update])
    assert response.status_code == 200, response.text
    assert response.json()["handled_update_ids"] == [update["_id"]]


def log_text(page) -> str:
    return page.locator("#task-log").inner_text()


def test_new_log_lines_appear_without_reload(page, server, farm, mongo_db, tmp_path):
    with manager_api(server, farm["manager"], farm["manager_token"]) as manager:
        task = claimed_task(server, farm, mongo_db, manager)
        push_log(manager, task["_id"], "2026-01-01T10:00:01Z", "Blender 3.4 starting\nRead blend: /shot.blend")
        log_in(page, server)
        page.goto(f"{server}/p/spring/tasks/{task['_id']}")
        assert "Read blend: /shot.blend" in log_text(page)
        wait_until_live(page)
        mark_same_document(page)

        push_log(manager, task["_id"], "2026-01-01T10:00:02Z", "Fra:1 Mem:12M | Rendering 1/4 samples")
        page.locator("#task-log", has_text="Rendering 1/4 samples").wait_for()
        push_log(manager, task["_id"], "2026-01-01T10:00:03Z",
                 "Fra:1 Mem:12M | Rendering 4/4 samples\nSaved: frame 0001")
        page.locator("#task-log", has_text="Saved: frame 0001").wait_for()
        page.screenshot(path=str(tmp_path / "task-log-live.png"), full_page=True)

    assert log_text(page) == ("Blender 3.4 starting\nRead blend: /shot.blend\nFra:1 Mem:12M | Rendering 1/4 samples\n"
                              "Fra:1 Mem:12M | Rendering 4/4 samples\nSaved: frame 0001\n")
    assert still_same_document(page)
    assert page.locator(".log-tools").get_by_text("New lines appear as the Manager sends them").is_visible()


def test_earlier_pages_load_on_request(page, server, farm, mongo_db, tmp_path):
    with manager_api(server, farm["manager"], farm["manager_token"]) as manager:
        task = claimed_task(server, farm, mongo_db, manager)
    start = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.timezone.utc)
    mongo_db["flamenco_task_logs"].insert_many([
        {"task": task["_id"], "received_on_manager": start + datetime.timedelta(seconds=n),
         "log": f"Fra:{n:04d} | Path Tracing Sample 4/4 " + "." * 1000} for n in range(200)])
    log_in(page, server)
    page.goto(f"{server}/p/spring/tasks/{task['_id']}")
    assert "Fra:0199" in log_text(page) and "Fra:0000 " not in log_text(page)
    earlier = page.get_by_role("button", name="Load earlier")
    while earlier.is_visible():
        first_frame = int(log_text(page)[4:8])
        earlier.click()
        page.locator("#task-log", has_text=f"Fra:{first_frame - 1:04d} ").wait_for()
    lines = log_text(page).splitlines()
    assert [line[:8] for line in lines] == [f"Fra:{n:04d}" for n in range(200)]
    page.screenshot(path=str(tmp_path / "task-log-earlier.png"), full_page=True)
