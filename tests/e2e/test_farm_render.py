"""The whole farm, started by ``flamenco farm``, renders a real Blender job end to end."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.farm_support import RunningFarm, running_farm, video_frame_count, wait_for_job

pytestmark = [pytest.mark.slow, pytest.mark.blender]

FRAMES = 12


def wait_for_video_worker(farm: RunningFarm, timeout: float = 60.0) -> None:
    """The server adds create-video only once the manager reports a video-encoding worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manager = farm.client.session.get(
            f"{farm.state['server_url']}/api/flamenco/managers/{farm.state['manager_id']}", timeout=5).json()
        if "video-encoding" in (manager.get("worker_task_types") or []):
            return
        time.sleep(0.5)
    raise AssertionError(f"manager never reported video-encoding workers:\n{farm.log('manager')[-2000:]}")


def submit(farm: RunningFarm, scene: Path, output: Path, chunk_size: int, *extra: str) -> str:
    result = farm.cli("submit", "blender-render", str(scene), "--frames", f"1-{FRAMES}",
                      "--chunk-size", str(chunk_size), "--output", str(output / "frames-######"), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_farm_renders_frames_and_video(tmp_path: Path, small_scene: Path, render_output: Path) -> None:
    with running_farm(tmp_path / "farm", "--workers", "2") as farm:
        wait_for_video_worker(farm)
        out = render_output
        job_id = submit(farm, small_scene, out, 4, "--video", "--fps", "24")
        job = wait_for_job(farm, job_id)
        assert job["status"] == "completed"
        frames = sorted(out.glob("frames-*.png"))
        assert [f.name for f in frames] == [f"frames-{n:06d}.png" for n in range(1, FRAMES + 1)]
        videos = list(out.glob("*.mp4"))
        assert len(videos) == 1, sorted(p.name for p in out.iterdir())
        assert video_frame_count(videos[0]) == FRAMES
        summary = farm.client.job_task_summary(job_id)
        assert summary.counts == {"completed": summary.total}
