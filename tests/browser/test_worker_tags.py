"""Worker tags in Chromium (issue 15): a job that needs tag 'gpu' says on its page that no worker can run
it; its Manager's owner gives the one worker that tag on the Workers page; a real Manager process
applies it and the worker gets the job's task."""
from __future__ import annotations

import time

import pytest

from tests.browser.helpers import log_in
from tests.browser.test_workers_page import TASK_TYPES, manager_url  # noqa: F401 (fixture)
from tests.manager.support import TestWorker
from tests.support.server import job_doc, post_job

pytestmark = pytest.mark.browser

WORKSTATION = {"cpu_cores": 16, "ram_bytes": 67_100_000_000, "gpus": []}


def first_task(worker: TestWorker, timeout: float = 60.0) -> dict:
    """Ask the Manager for work until it hands out a task (it syncs the server's tasks in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = worker.get_task()
        if resp.status_code == 200:
            return resp.json()
        assert resp.status_code == 204, resp.text
        time.sleep(0.3)
    raise AssertionError("the worker never got a task")


def test_admin_tags_a_worker_and_it_gets_the_gpu_job(page, server, farm, manager_url, tmp_path):  # noqa: F811
    worker = TestWorker(manager_url, nickname="render-09", task_types=TASK_TYPES).ready()
    assert worker.sign_on(tags=["cpu-only"], resources=WORKSTATION).status_code == 204
    assert worker.get_task().status_code == 204
    doc = job_doc(farm["project"], farm["manager"], farm["alice"], name="gpu shot", requirements={"tags": ["gpu"]},
                  settings={"frames": "1", "chunk_size": 1, "time_in_seconds": 0})
    created = post_job(server, farm["token"], doc)
    assert created.status_code == 201, created.text
    job_id = created.json()["_id"]

    log_in(page, server)
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    warning = page.locator(".no-capable-worker")
    for _ in range(60):  # the Manager reports its new worker within a second or two
        if warning.count() and "none tagged 'gpu'" in warning.inner_text():
            break
        time.sleep(0.5)
        page.reload()
    assert warning.inner_text() == ("No worker of manager Studio Manager can run this job: needs tag 'gpu' "
                                    "(1 worker, none tagged 'gpu')")
    page.screenshot(path=str(tmp_path / "job-needs-gpu.png"), full_page=True)

    page.get_by_role("link", name="Workers", exact=True).click()
    row = page.locator(f'tr[data-worker-id="{worker.worker_id}"]')
    row.locator('.tag[data-tag="cpu-only"]').wait_for()
    assert row.locator(".resources").inner_text() == "16 cores · 67.1 GB RAM"
    row.get_by_role("button", name="Edit tags").click()
    editor = row.get_by_label("Tags, separated by spaces")
    assert editor.input_value() == "cpu-only"
    editor.fill("GPU, render")
    row.get_by_role("button", name="Save tags").click()
    page.locator("#flash").get_by_text("New tags queued for render-09").wait_for()
    row.locator('.tag[data-tag="gpu"]').wait_for(timeout=60_000)  # applied by the Manager, then reported
    assert row.locator(".tag").all_inner_texts() == ["gpu", "render"]
    assert row.locator(".tags-source").inner_text() == "set by admin"
    assert row.locator(".tags-source").get_attribute("title") == "The worker's own tags: cpu-only"
    page.screenshot(path=str(tmp_path / "workers-tagged.png"), full_page=True)

    task = first_task(worker)
    assert task["job"] == job_id and task["requirements"] == {"tags": ["gpu"]}
    page.goto(f"{server}/p/spring/jobs/{job_id}")
    assert page.locator(".no-capable-worker").count() == 0
    assert "1 of 1 worker of its Manager can run it." in " ".join(page.locator(".capable-workers").inner_text().split())
