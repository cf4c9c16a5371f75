"""Pre-task checks of shared storage: the checks themselves, their config, and the error state."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from flamenco_worker.config import ConfigError, WorkerConfig, load_config
from flamenco_worker.pre_task_check import PreTaskCheckFailed, check_readable, check_writable
from tests.worker.conftest import run, running_worker, until, with_config
from tests.worker.fake_manager import FakeManager

needs_permissions = pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")


def test_readable_and_writable_paths_pass(tmp_path: Path) -> None:
    existing = tmp_path / "file.txt"
    existing.write_text("keep me")
    check_readable(tmp_path)
    check_readable(existing)
    check_writable(tmp_path)
    check_writable(existing)
    assert existing.read_text() == "keep me", "checking a file does not change it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"], "no check file left behind"


def test_missing_paths_fail_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(PreTaskCheckFailed, match="nowhere does not exist"):
        check_readable(tmp_path / "nowhere")
    with pytest.raises(PreTaskCheckFailed, match="is not writable"):
        check_writable(tmp_path / "nowhere" / "file")


@needs_permissions
def test_read_only_directory_is_not_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        check_readable(locked)
        with pytest.raises(PreTaskCheckFailed, match="locked is not writable"):
            check_writable(locked)
    finally:
        locked.chmod(0o700)


def test_flamenco2_section_in_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "worker.cfg"
    config_file.write_text(f"""
[flamenco-worker]
manager_url = http://manager/

[pre_task_check]
read.shots = {tmp_path}/shots
read.assets = {tmp_path}/assets
write.renders = {tmp_path}/renders
""")
    config = load_config(config_file, environ={"FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "c.cfg")})
    assert config.pre_task_check_read == (tmp_path / "shots", tmp_path / "assets")
    assert config.pre_task_check_write == (tmp_path / "renders",)
    config_file.write_text("[flamenco-worker]\nmanager_url = http://manager/\n[pre_task_check]\nexecute.x = /\n")
    with pytest.raises(ConfigError, match="'execute.x' must start with 'read.' or 'write.'"):
        load_config(config_file, environ={"FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "c.cfg")})


def test_failed_check_puts_worker_in_error_state_until_fixed(
    tmp_path: Path, manager: FakeManager, worker_config: WorkerConfig,
) -> None:
    share = tmp_path / "share"
    config = with_config(worker_config, pre_task_check_read=(share,))
    task_id = manager.add_task({"name": "echo", "settings": {"message": "share is back"}})

    async def body() -> None:
        async with running_worker(config):
            await until(lambda: manager.requests("/ack-status-change/error"), what="ack error")
            assert manager.fetches() == 0, "no task is fetched while the share is missing"
            share.mkdir()
            await until(lambda: "completed" in manager.statuses(task_id), what="the task once the share is back")

    run(body())
    assert manager.requests("/ack-status-change/awake")
