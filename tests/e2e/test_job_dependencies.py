"""A whole farm (``flamenco farm``: server, Celery, manager, real worker, Blender) runs job B only after job A.

B is submitted with ``flamenco submit ... --after A`` while A is paused: B
waits, and although the idle worker keeps its manager pulling the server's
depsgraph, none of B's tasks leaves the server. Once A is queued and
completes, B is released and renders; every frame of B is written after the
last frame of A.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.farm_support import RunningFarm, running_farm, wait_for_job

pytestmark = [pytest.mark.slow, pytest.mark.blender]

FRAMES = 4
# Long enough for the idle worker's manager to pull the depsgraph several times
# (the farm's manager re-checks every 2 s while a worker waits for work).
WAITING_OBSERVED_SECONDS = 8.0


def submit(farm: RunningFarm, scene: Path, output: Path, *extra: str) -> tuple[str, str]:
    """Submit a blender-render job with the CLI; (job id, the CLI's message)."""
    result = farm.cli("submit", "blender-render", str(scene), "--frames", f"1-{FRAMES}", "--chunk-size", "2",
                      "--output", str(output / "frames-######"), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1], result.stderr


def wait_for_worker(farm: RunningFarm, timeout: float = 60.0) -> None:
    """The manager reports its workers' task types once one signed on: from then on it pulls work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manager = farm.client.session.get(
            f"{farm.state['server_url']}/api/flamenco/managers/{farm.state['manager_id']}", timeout=5).json()
        if "blender-render" in (manager.get("worker_task_types") or []):
            return
        time.sleep(0.5)
    raise AssertionError(f"no worker signed on:\n{farm.log('manager')[-2000:]}")


def test_job_after_another_waits_then_renders_after_it(tmp_path: Path, small_scene: Path,
                                                       render_output: Path) -> None:
    first_out, second_out = render_output / "A", render_output / "B"
    with running_farm(tmp_path / "farm", "--workers", "1") as farm:
        wait_for_worker(farm)
        job_a, _ = submit(farm, small_scene, first_out, "--name", "render-A", "--paused")
        job_b, message = submit(farm, small_scene, second_out, "--name", "comp-B", "--after", job_a)
        assert "waiting-for-jobs (Waiting for 1 job: 'render-A' (paused))" in message

        time.sleep(WAITING_OBSERVED_SECONDS)
        waiting = farm.client.get_job(job_b)
        assert waiting["status"] == "waiting-for-jobs"
        counts = farm.client.job_task_summary(job_b).counts
        assert set(counts) == {"queued"}, f"B's tasks left the server while it waited: {counts}"

        requeue = farm.cli("jobs", "requeue", job_a)
        assert requeue.returncode == 0, requeue.stderr
        done_a = wait_for_job(farm, job_a)
        done_b = wait_for_job(farm, job_b)

    frames_a, frames_b = sorted(first_out.glob("frames-*.png")), sorted(second_out.glob("frames-*.png"))
    assert len(frames_a) == len(frames_b) == FRAMES
    assert max(f.stat().st_mtime for f in frames_a) <= min(f.stat().st_mtime for f in frames_b)
    assert done_a["status"] == done_b["status"] == "completed"
