"""Fault tests: kill -9 a worker, kill -9 the manager, kill the server, mid-render.

Each time the job still completes with every frame exactly once in the final
output. Timeouts are shortened through ``flamenco farm`` options so that a dead
worker's task is requeued within seconds.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.farm_support import RunningFarm, running_farm, wait_for_job
from tests.e2e.test_farm_render import FRAMES, submit

pytestmark = [pytest.mark.slow, pytest.mark.blender]

FAST_TIMEOUTS = ("--task-timeout", "20s", "--worker-timeout", "10s")


def active_tasks(farm: RunningFarm, job_id: str) -> list[dict]:
    where = json.dumps({"job": job_id, "status": "active"})
    resp = farm.client.session.get(f"{farm.state['server_url']}/api/flamenco/tasks",
                                   params={"where": where}, timeout=5)
    resp.raise_for_status()
    return resp.json()["_items"]


def wait_until_rendering(farm: RunningFarm, job_id: str, count: int = 1, timeout: float = 120.0) -> list[dict]:
    """Wait until ``count`` tasks of the job are active on the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = active_tasks(farm, job_id)
        if len(tasks) >= count:
            return tasks
        time.sleep(0.3)
    raise AssertionError(f"fewer than {count} tasks became active:\n{farm.log('manager')[-2000:]}")


def kill(farm: RunningFarm, name: str) -> int:
    pid = farm.refresh_state()["pids"][name]
    os.kill(pid, signal.SIGKILL)
    return pid


def assert_frames_once(out: Path) -> None:
    names = sorted(p.name for p in out.glob("frames-*"))
    assert names == [f"frames-{n:06d}.png" for n in range(1, FRAMES + 1)]


def test_killed_worker_task_is_requeued_and_finished_by_the_other(tmp_path: Path, slow_scene: Path,
                                                                  render_output: Path) -> None:
    with running_farm(tmp_path / "farm", "--workers", "2", *FAST_TIMEOUTS) as farm:
        out = render_output
        job_id = submit(farm, slow_scene, out, 3)
        wait_until_rendering(farm, job_id, count=2)
        kill(farm, "worker-1")
        job = wait_for_job(farm, job_id)
        assert job["status"] == "completed"
        assert_frames_once(out)


@pytest.mark.parametrize("service", ["manager", "server"])
def test_killed_service_is_restarted_and_loses_no_update(tmp_path: Path, slow_scene: Path, render_output: Path,
                                                         service: str) -> None:
    """kill -9 the manager or the server mid-render; the farm restarts it and the job completes."""
    with running_farm(tmp_path / "farm", "--workers", "2", *FAST_TIMEOUTS) as farm:
        out = render_output
        job_id = submit(farm, slow_scene, out, 3)
        wait_until_rendering(farm, job_id)
        old_pid = kill(farm, service)
        job = wait_for_job(farm, job_id)
        assert farm.refresh_state()["pids"][service] != old_pid
        assert job["status"] == "completed"
        assert_frames_once(out)
        summary = farm.client.job_task_summary(job_id)
        assert summary.counts == {"completed": summary.total}
