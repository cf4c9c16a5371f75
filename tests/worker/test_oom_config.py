"""The ``oom_score_adj`` setting: its range, its errors, and that the worker hands it to every subprocess."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from flamenco_worker.config import ConfigError, WorkerConfig, load_config
from tests.worker.conftest import run, running_worker, until, with_config
from tests.worker.fake_manager import FakeManager
from tests.worker.test_cli import PROCESS_TIMEOUT_SECONDS, WORKER_SCRIPT, worker_env


def environ(tmp_path: Path, value: str) -> dict[str, str]:
    return {"FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "credentials.cfg"),
            "FLAMENCO_WORKER_OOM_SCORE_ADJ": value}


def test_default_is_500(tmp_path: Path) -> None:
    assert load_config(environ={"FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "c.cfg")}).oom_score_adj == 500


@pytest.mark.parametrize(("raw", "value"), [("-1000", -1000), ("0", 0), (" 1000 ", 1000), ("-5", -5)])
def test_the_kernels_range_is_accepted(tmp_path: Path, raw: str, value: int) -> None:
    assert load_config(environ=environ(tmp_path, raw)).oom_score_adj == value


def test_config_file_value(tmp_path: Path) -> None:
    config_file = tmp_path / "worker.cfg"
    config_file.write_text("[flamenco-worker]\noom_score_adj = 1000\n")
    assert load_config(config_file, environ={"FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "c.cfg")}).oom_score_adj == 1000


@pytest.mark.parametrize("raw", ["1001", "-1001", "high", "2.5", ""])
def test_out_of_range_or_not_an_integer_is_a_config_error(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ=environ(tmp_path, raw))
    assert str(info.value) == f"oom_score_adj: {raw!r} is not an integer from -1000 to 1000 (0 disables the OOM guard)"


def test_cli_reports_a_bad_value_and_exits_47(tmp_path: Path, manager: FakeManager) -> None:
    env = worker_env(tmp_path, manager) | {"FLAMENCO_WORKER_OOM_SCORE_ADJ": "5000"}
    result = subprocess.run([str(WORKER_SCRIPT)], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=PROCESS_TIMEOUT_SECONDS)
    assert result.returncode == 47
    assert "oom_score_adj: '5000' is not an integer from -1000 to 1000" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_gives_its_setting_to_task_subprocesses(manager: FakeManager, worker_config: WorkerConfig) -> None:
    code = "print('score', open('/proc/self/oom_score_adj').read().strip())"
    task_id = manager.add_task({"name": "exec", "settings": {"cmd": f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"}})

    async def body() -> None:
        async with running_worker(with_config(worker_config, oom_score_adj=777)):
            await until(lambda: "completed" in manager.statuses(task_id), what="task completion")

    run(body())
    assert any(line.endswith("> score 777") for line in manager.task_log(task_id))
