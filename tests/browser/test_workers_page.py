"""The farm-wide Workers page in Chromium: a real Manager process reports a worker, the page shows
it, a click sends it to sleep, and its row turns "asleep" without a reload (issue 14)."""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Iterator

import pymongo
import pytest

from flamenco.farm.services import free_port
from tests.browser.helpers import log_in, mark_same_document, still_same_document
from tests.conftest import with_database
from tests.manager.support import DASHBOARD_PASSWORD, TestWorker, manager_process, wait_until_serving

pytestmark = pytest.mark.browser

TASK_TYPES = ["sleep", "file-management", "exec"]


@pytest.fixture
def manager_url(server: str, farm: dict, mongo_server: str, tmp_path: Path) -> Iterator[str]:
    """``flamenco-manager run`` linked to the test server as the farm's Manager, syncing every 0.2 s."""
    database = "mgr_" + uuid.uuid4().hex[:16]
    port = free_port()
    settings = {"database_url": with_database(mongo_server, database), "task_logs_path": str(tmp_path / "logs"),
                "flamenco": server, "manager_id": str(farm["manager"]["_id"]),
                "manager_secret": farm["manager_token"], "listen": f"127.0.0.1:{port}",
                "own_url": f"http://127.0.0.1:{port}/", "worker_registration_open": True,
                "dashboard_password": DASHBOARD_PASSWORD, "sync_tick_interval": 0.2,
                "task_update_push_max_interval": 0.2, "cancel_task_fetch_max_interval": 0.5,
                "worker_report_min_interval": 0.5}
    log_path = tmp_path / "manager.log"
    try:
        with manager_process("run", settings, log_path) as proc:
            url = f"http://127.0.0.1:{port}"
            wait_until_serving(url, proc, log_path)
            yield url
        assert "Traceback" not in log_path.read_text()
    finally:
        with pymongo.MongoClient(mongo_server) as client:
            client.drop_database(database)


def asked_to_sleep(worker: TestWorker, timeout: float = 60.0) -> dict:
    """Call /task as a Flamenco 2 worker does until the Manager answers with a status change."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = worker.get_task()
        if resp.status_code == 423:
            return resp.json()
        time.sleep(0.3)
    raise AssertionError("the worker was never asked to change status")


def test_worker_goes_asleep_on_the_page_without_reload(page, server, farm, manager_url, tmp_path):
    worker = TestWorker(manager_url, nickname="render-07", task_types=TASK_TYPES).ready()
    assert worker.get_task().status_code == 204  # idle and awake

    log_in(page, server)
    page.get_by_role("link", name="Workers", exact=True).click()
    row = page.locator(f'tr[data-worker-id="{worker.worker_id}"]')
    row.locator('.worker-status[data-status="awake"]').wait_for()
    assert row.locator(".nickname").inner_text() == "render-07"
    assert row.locator("td").first.inner_text() == "Studio Manager"
    assert row.locator(".task-types").inner_text() == ", ".join(TASK_TYPES)
    assert row.locator(".last-seen").inner_text().endswith("s ago")
    page.screenshot(path=str(tmp_path / "workers-awake.png"), full_page=True)
    mark_same_document(page)

    # Shutting down asks first; dismissing queues nothing.
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Shut down").click()
    assert dialogs and "Shut down worker render-07?" in dialogs[0]
    assert row.locator(".pending").count() == 0

    row.get_by_role("button", name="Sleep").click()
    page.locator("#flash").get_by_text("Sleep queued for render-07").wait_for()
    assert asked_to_sleep(worker) == {"status_requested": "asleep"}
    assert worker.ack("asleep").status_code == 204

    row.locator('.worker-status[data-status="asleep"]').wait_for()
    row.get_by_role("button", name="Wake").wait_for()
    assert row.locator(".pending").count() == 0, "the Manager acknowledged the action"
    assert still_same_document(page), "the row changed without a reload"
    page.screenshot(path=str(tmp_path / "workers-asleep.png"), full_page=True)
