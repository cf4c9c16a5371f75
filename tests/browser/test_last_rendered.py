"""The last-rendered image (issue 14): a real Blender render reaches the job page, live.

Real parts throughout: Blender renders two frames of a generated scene; a
real ``flamenco-manager run`` process hears of them through ``output-produced``
from a worker speaking the Flamenco 2 protocol, converts them and uploads
them on its sync loop to a real server process; Chromium shows the job page,
the farm page (which polls for a newer frame) and the Manager's own
dashboard. Screenshots are saved in the
test's temp dir.
"""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
from PIL import Image, ImageChops, ImageStat

from flamenco.farm.services import free_port
from tests.browser.helpers import log_in, mark_same_document, still_same_document, wait_until_live
from tests.e2e.farm_support import make_scene
from tests.manager.support import DASHBOARD_PASSWORD, TestWorker, manager_process, wait_until_serving
from tests.support.server import make_job, running_server
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(shutil.which("blender") is None, reason="needs Debian's blender")]

# The scene's frame size: small enough to render in seconds, big enough to see.
FRAME_SIZE = "320x240"


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    """Frames 1 and 12 of the generated scene (the cube moves between them), rendered by Blender."""
    scene = make_scene(tmp_path / "shot.blend", size=FRAME_SIZE, samples=4)
    subprocess.run(["blender", "-b", str(scene), "-o", str(tmp_path / "frame-####"), "-F", "PNG",
                    "-f", "1", "-f", "12"], check=True, capture_output=True, timeout=300)
    rendered = [tmp_path / "frame-0001.png", tmp_path / "frame-0012.png"]
    assert all(p.is_file() for p in rendered)
    return rendered


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two images, 0-255."""
    with Image.open(io.BytesIO(a)) as one, Image.open(io.BytesIO(b)) as two:
        return sum(ImageStat.Stat(ImageChops.difference(one.convert("RGB"), two.convert("RGB"))).mean) / 3


def test_a_blender_render_appears_on_the_job_page_and_a_newer_one_replaces_it_live(
        page, farm, mongo_db, mongo_uri, redis_url, manager_db_uri, dashboard_built, frames, tmp_path):
    job = make_job(mongo_db, farm["project"], farm["manager"], farm["alice"], name="Shot 010",
                   settings={"frames": "1", "chunk_size": 1, "time_in_seconds": 0})
    storage = tmp_path / "storage"
    stored = storage / "flamenco-last-rendered" / f"job-{job['_id']}.jpg"
    port = free_port()
    manager_url = f"http://127.0.0.1:{port}"
    with running_server(mongo_uri, redis_url, FLAMENCO_STORAGE_DIR=str(storage)) as server:
        settings = {"database_url": manager_db_uri, "task_logs_path": str(tmp_path / "task-logs"),
                    "flamenco": server, "manager_id": str(farm["manager"]["_id"]),
                    "manager_secret": farm["manager_token"], "listen": f"127.0.0.1:{port}",
                    "own_url": manager_url + "/", "worker_registration_open": True,
                    "dashboard_password": DASHBOARD_PASSWORD, "sync_tick_interval": 0.2,
                    "download_task_recheck_throttle": 0, "last_rendered_interval": 0.5}
        log_path = tmp_path / "manager.log"
        with manager_process("run", settings, log_path) as proc:
            wait_until_serving(manager_url, proc, log_path)
            worker = TestWorker(manager_url, task_types=["sleep", "file-management", "exec"]).ready()
            task = wait_for(lambda: (r := worker.get_task()).status_code == 200 and r.json(), "a task for the worker")
            assert task["job"] == str(job["_id"])

            log_in(page, server)
            page.goto(f"{server}/p/spring/jobs/{job['_id']}")
            page.get_by_text("No frame rendered yet").wait_for()
            wait_until_live(page)
            mark_same_document(page)
            page.screenshot(path=str(tmp_path / "1-job-page-before.png"), full_page=True)

            image = page.locator("[data-last-rendered] img.last-rendered-image")
            report_output(worker, frames[0])
            wait_for(stored.is_file, "the manager's upload of frame 1")
            first_src = wait_for(lambda: image.is_visible() and image.get_attribute("src"), "frame 1 on the page")
            page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=image.element_handle())
            first_jpeg = stored.read_bytes()
            page.screenshot(path=str(tmp_path / "2-job-page-frame-1.png"), full_page=True)

            report_output(worker, frames[1])
            second_src = wait_for(lambda: (src := image.get_attribute("src")) != first_src and src,
                                  "frame 12 replacing frame 1 on the page")
            page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=image.element_handle())
            assert still_same_document(page), "the image changed without a page reload"
            page.screenshot(path=str(tmp_path / "3-job-page-frame-12.png"), full_page=True)
            shown = page.request.get(f"{server}{second_src}").body()
            assert difference(shown, first_jpeg) > 1.0, "the page shows the newer frame, not the older one"
            assert difference(shown, stored.read_bytes()) == 0

            page.goto(f"{server}/last-rendered")
            farm_image = page.locator("[data-farm-last-rendered] img.last-rendered-image")
            farm_image.wait_for()
            assert unquote(farm_image.get_attribute("src")) == unquote(second_src), "the same, newest, image"
            assert page.locator(".last-rendered-job").text_content() == "Shot 010"
            mark_same_document(page)
            report_output(worker, frames[0])  # the cube back on the left: a newer image, polled by the page
            wait_for(lambda: unquote(farm_image.get_attribute("src")) != unquote(second_src),
                     "the farm page to show the newer frame")
            page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=farm_image.element_handle())
            assert still_same_document(page)
            page.screenshot(path=str(tmp_path / "4-farm-page.png"), full_page=True)

            manager_page = page.context.browser.new_page(http_credentials={"username": "admin",
                                                                           "password": DASHBOARD_PASSWORD})
            manager_page.goto(manager_url + "/")
            manager_image = manager_page.locator("#last-rendered img")
            manager_image.wait_for()
            manager_page.wait_for_function("img => img.complete && img.naturalWidth === 320",
                                           arg=manager_image.element_handle())
            assert "frame-0001.png" in manager_page.locator("#last-rendered figcaption").text_content(), "the newest"
            manager_page.screenshot(path=str(tmp_path / "5-manager-dashboard.png"), full_page=True)
            manager_page.close()
        assert "Traceback" not in log_path.read_text()


def report_output(worker: TestWorker, path: Path) -> None:
    resp = requests.post(worker.url("/output-produced"), json={"paths": [str(path)]},
                         auth=(worker.worker_id, worker.secret), timeout=30)
    assert resp.status_code == 204, resp.text
