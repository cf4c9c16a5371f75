"""The last-rendered image on the Manager: output-produced -> a downscaled JPEG -> the Server.

A real manager (its engine, HTTP server and FerretDB database) hears from a
test worker speaking the Flamenco 2 protocol; the images are real files made
with Pillow (and one EXR made with Blender); the upload goes to a real server
process.
"""
from __future__ import annotations

import io
import logging
import os
import subprocess
import time
from pathlib import Path


import pytest
import requests
from bson import ObjectId
from PIL import Image

from flamenco_manager import last_rendered, tasks
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from flamenco_manager.sync import SyncDaemon
from tests.manager.conftest import serving
from tests.manager.support import Dashboard, TestWorker, server_task
from tests.support.server import make_job, make_manager, make_project, make_user, running_server
from tests.support.waiting import wait_for

# Reports in the burst of the throttling test.
BURST = 100
# The throttling test's wait per job: long enough for the whole burst to arrive on a busy machine.
BURST_INTERVAL = 8.0
# Everything else converts soon after the report.
QUICK_INTERVAL = 0.2


def two_colour_png(path: Path, size: tuple[int, int], left: tuple[int, int, int] = (220, 30, 30),
                   right: tuple[int, int, int] = (30, 30, 220)) -> Path:
    """A PNG whose left half is ``left`` and right half ``right``, so orientation survives the check."""
    image = Image.new("RGB", size, right)
    image.paste(left, (0, 0, size[0] // 2, size[1]))
    image.save(path)
    return path


def noise_png(path: Path) -> Path:
    """A PNG that does not compress, so cutting it short loses pixels."""
    Image.frombytes("RGB", (640, 480), os.urandom(640 * 480 * 3)).save(path)
    return path


def report(worker: TestWorker, *paths: str) -> None:
    resp = worker.session.post(worker.url("/output-produced"), json={"paths": list(paths)}, timeout=30)
    assert resp.status_code == 204, resp.text


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected))


@pytest.fixture
def quick_settings(manager_settings: dict) -> dict:
    manager_settings["last_rendered_interval"] = QUICK_INTERVAL
    return manager_settings


# -- the conversion itself ---------------------------------------------------


def test_a_big_render_shrinks_to_fit_full_hd_keeping_its_shape_and_colours(tmp_path):
    jpeg = last_rendered.to_jpeg(two_colour_png(tmp_path / "wide.png", (4000, 1000)))
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG" and image.size == (1920, 480)
        assert close_to(image.getpixel((100, 240)), (220, 30, 30))
        assert close_to(image.getpixel((1800, 240)), (30, 30, 220))


def test_a_small_render_is_not_enlarged_and_alpha_and_16_bit_grey_become_rgb(tmp_path):
    rgba = tmp_path / "alpha.png"
    Image.new("RGBA", (64, 48), (255, 255, 255, 0)).save(rgba)
    with Image.open(io.BytesIO(last_rendered.to_jpeg(rgba))) as image:
        assert image.size == (64, 48) and image.mode == "RGB"
        assert close_to(image.getpixel((10, 10)), (0, 0, 0)), "transparent shows as black, as in Blender"
    grey16 = tmp_path / "grey16.png"
    Image.new("I;16", (64, 48), 40000).save(grey16)
    with Image.open(io.BytesIO(last_rendered.to_jpeg(grey16))) as image:
        assert close_to(image.getpixel((10, 10)), (156, 156, 156), tolerance=4)


def test_an_exr_goes_through_blender(tmp_path):
    exr = tmp_path / "frame.exr"
    script = ("import bpy\n"
              "image = bpy.data.images.new('frame', 64, 48, float_buffer=True)\n"
              "image.pixels = [0.8, 0.02, 0.02, 1.0] * (64 * 48)\n"
              f"image.filepath_raw = {str(exr)!r}\n"
              "image.file_format = 'OPEN_EXR'\n"
              "image.save()\n")
    subprocess.run(["blender", "-b", "--factory-startup", "--python-expr", script], check=True,
                   capture_output=True, timeout=120)
    with Image.open(io.BytesIO(last_rendered.to_jpeg(exr))) as image:
        assert image.format == "JPEG" and image.size == (64, 48)
        red, green, blue = image.getpixel((10, 10))
        assert red > 120 and red > green + 60 and red > blue + 60, (red, green, blue)


@pytest.mark.parametrize("name, make, reason", [
    ("text.png", lambda p: p.write_text("not an image at all"), "not a readable image"),
    ("missing.png", lambda p: None, "cannot read the file"),
    ("nul\x00byte.png", lambda p: None, "cannot read the file"),
    ("truncated.png", lambda p: p.write_bytes(noise_png(p).read_bytes()[:20_000]), "not a readable image"),
    ("huge.png", lambda p: Image.new("1", (12_000, 12_000)).save(p), "too large"),
])
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_bad_file_is_refused_with_a_reason(tmp_path, name, make, reason):
    path = tmp_path / name
    make(path)
    with pytest.raises(last_rendered.ConversionError, match=reason):
        last_rendered.to_jpeg(path)


# -- through the worker API --------------------------------------------------


def test_a_burst_of_reports_converts_only_the_newest(manager_settings, clock, tmp_path, monkeypatch):
    manager_settings["last_rendered_interval"] = BURST_INTERVAL
    conversions: list[Path] = []
    real_to_jpeg = last_rendered.to_jpeg

    def counted(path: Path) -> bytes:
        conversions.append(path)
        return real_to_jpeg(path)

    monkeypatch.setattr(last_rendered, "to_jpeg", counted)
    frames = [two_colour_png(tmp_path / f"frame-{i:04d}.png", (64, 48), left=(i * 2, 100, 100)) for i in range(BURST)]
    ctx = ManagerContext.create(build_config(manager_settings), clock=clock)
    try:
        with serving(ctx) as url:
            worker = TestWorker(url).ready()
            started = time.monotonic()
            for frame in frames:
                report(worker, "/elsewhere/preview.mp4", str(frame))
            burst_seconds = time.monotonic() - started
            assert burst_seconds < BURST_INTERVAL, f"the burst took {burst_seconds:.1f} s: machine too slow to tell"
            latest = wait_for(lambda: ctx.last_rendered.latest, "the conversion")
            time.sleep(1.0)  # a second conversion, if one were scheduled, would have started by now
            assert conversions == [frames[-1]], "one conversion, of the newest frame"
            assert latest.source == str(frames[-1])
            assert latest.worker == "worker"
    finally:
        ctx.close()


def test_bad_files_are_logged_and_skipped_and_the_next_good_one_converts(ctx_quick, tmp_path, caplog):
    ctx, url = ctx_quick
    worker = TestWorker(url).ready()
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    caplog.set_level(logging.WARNING, logger="flamenco_manager.last_rendered")
    report(worker, str(bad))
    wait_for(lambda: any(str(bad) in r.getMessage() for r in caplog.records), "the log line about the bad file")
    report(worker, str(tmp_path / "gone.png"))
    wait_for(lambda: any("gone.png" in r.getMessage() for r in caplog.records), "the log line about the missing file")
    assert ctx.last_rendered.latest is None
    assert not any(r.levelno >= logging.ERROR for r in caplog.records), "a bad file is no error of the manager"
    good = two_colour_png(tmp_path / "good.png", (320, 240))
    report(worker, str(good))
    assert wait_for(lambda: ctx.last_rendered.latest, "the good file's conversion").source == str(good)
    assert worker.status_change().status_code == 204, "the manager still answers workers"


@pytest.fixture
def ctx_quick(quick_settings, clock):
    context = ManagerContext.create(build_config(quick_settings), clock=clock)
    try:
        with serving(context) as url:
            yield context, url
    finally:
        context.close()


def test_the_manager_dashboard_shows_the_newest_image(ctx_quick, tmp_path):
    ctx, url = ctx_quick
    dashboard = Dashboard(url)
    assert dashboard.get("/last-rendered.jpg").status_code == 404
    assert 'id="last-rendered"' not in dashboard.get("/").text
    worker = TestWorker(url).ready()
    report(worker, str(two_colour_png(tmp_path / "frame.png", (2560, 1440))))
    wait_for(lambda: ctx.last_rendered.latest, "the conversion")
    page = dashboard.get("/").text
    assert 'id="last-rendered"' in page and 'src="/last-rendered.jpg?v=' in page and "frame.png" in page
    image = dashboard.get("/last-rendered.jpg")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(image.content)) as jpeg:
        assert jpeg.size == (1920, 1080)
    assert requests.get(url + "/last-rendered.jpg", timeout=30).status_code == 401, "only for dashboard users"


# -- to the Server -------------------------------------------------------------


def test_the_preview_of_a_job_reaches_the_server_downscaled(quick_settings, clock, mongo_db, mongo_uri, redis_url,
                                                            tmp_path):
    user = make_user(mongo_db, "artist")
    project = make_project(mongo_db, "Film", members=[(user, "member")])
    manager_doc, manager_token = make_manager(mongo_db, projects=[project])
    job = make_job(mongo_db, project, manager_doc, user, settings={"frames": "1", "chunk_size": 1,
                                                                  "time_in_seconds": 0})
    other_manager, _ = make_manager(mongo_db, projects=[project])
    foreign_job = make_job(mongo_db, project, other_manager, user, settings={"frames": "1", "chunk_size": 1,
                                                                            "time_in_seconds": 0})
    storage = tmp_path / "storage"
    with running_server(mongo_uri, redis_url, FLAMENCO_STORAGE_DIR=str(storage)) as server_url:
        config = build_config({**quick_settings, "flamenco": server_url, "manager_id": str(manager_doc["_id"]),
                               "manager_secret": manager_token})
        ctx = ManagerContext.create(config, clock=clock)
        try:
            daemon = SyncDaemon(ctx)
            daemon.download()
            with serving(ctx) as url:
                worker = TestWorker(url, task_types=["sleep", "file-management", "exec"]).ready()
                task = worker.get_task().json()
                assert task["job"] == str(job["_id"])
                report(worker, str(two_colour_png(tmp_path / "frame-0001.png", (3840, 2160))))
                wait_for(lambda: ctx.last_rendered.latest, "the conversion")
            daemon.run_once()
            stored = storage / "flamenco-last-rendered" / f"job-{job['_id']}.jpg"
            assert stored.is_file(), "the sync loop uploaded the preview"
            with Image.open(stored) as image:
                assert image.format == "JPEG" and image.size == (1920, 1080)
                assert close_to(image.getpixel((100, 540)), (220, 30, 30))
            on_server = mongo_db["flamenco_jobs"].find_one({"_id": job["_id"]})
            assert on_server.get("last_rendered") is not None
            assert mongo_db["flamenco_last_rendered"].find_one({"_id": project["_id"]})["job"] == job["_id"]
            assert ctx.last_rendered.take_uploads() == [], "uploaded previews are not sent again"

            # A job that is not this manager's: the Server refuses, the manager drops it (no retry loop).
            ctx.last_rendered.keep(last_rendered.Preview(job_id=foreign_job["_id"], jpeg=stored.read_bytes(),
                                                          source="x.png", worker="w", at=clock()))
            assert last_rendered.upload_pending(ctx.last_rendered, daemon.upstream) == 0
            assert ctx.last_rendered.take_uploads() == []
            assert not (storage / "flamenco-last-rendered" / f"job-{foreign_job['_id']}.jpg").exists()
        finally:
            ctx.close()


def test_previews_wait_for_a_server_that_is_down(quick_settings, clock, tmp_path):
    """Upload failures keep the preview (the newest per job) for a later try; nothing is lost or raised past the daemon."""
    ctx = ManagerContext.create(build_config(quick_settings), clock=clock)  # its server is at port 9: nobody
    try:
        job_id = ObjectId()
        tasks.store_downloaded(ctx, [server_task(job_id)])
        with serving(ctx) as url:
            worker = TestWorker(url).ready()
            assert worker.get_task().status_code == 200
            report(worker, str(two_colour_png(tmp_path / "frame.png", (64, 48))))
            wait_for(lambda: ctx.last_rendered.latest, "the conversion")
        daemon = SyncDaemon(ctx)
        daemon.run_once()  # logs the failed upload, goes on
        [kept] = ctx.last_rendered.waiting()
        assert kept.job_id == job_id and kept.source.endswith("frame.png")
        assert ctx.last_rendered.take_uploads() == [], "no retry before the back-off ends"
    finally:
        ctx.close()
