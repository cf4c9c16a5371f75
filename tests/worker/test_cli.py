"""The ``flamenco-worker`` process: configuration errors, --single, signals, no leftover processes."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import psutil
import pytest

from flamenco_worker import __version__
from tests.worker.conftest import FAST_TIMINGS
from tests.worker.fake_manager import FakeManager
from tests.worker.test_worker import echo, sleep
from tests.support.waiting import wait_for

WORKER_SCRIPT = Path(sys.executable).parent / "flamenco-worker"
PROCESS_TIMEOUT_SECONDS = 30.0
"""Upper bound for a worker process to do what a test waits for."""


def worker_env(tmp_path: Path, manager: FakeManager) -> dict[str, str]:
    env = dict(os.environ)
    env.update({f"FLAMENCO_WORKER_{key.upper()}": str(value) for key, value in FAST_TIMINGS.items()})
    env.update({
        "FLAMENCO_WORKER_MANAGER_URL": manager.url,
        "FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "credentials.cfg"),
        "FLAMENCO_WORKER_TASK_UPDATE_QUEUE_DB": str(tmp_path / "queue.db"),
        "FLAMENCO_WORKER_TASK_TYPES": "sleep",
    })
    return env


@pytest.fixture
def start_worker(tmp_path: Path, manager: FakeManager) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``flamenco-worker`` processes; kills any still running after the test."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen([str(WORKER_SCRIPT), *args], cwd=tmp_path, env=worker_env(tmp_path, manager),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=PROCESS_TIMEOUT_SECONDS)


def test_version() -> None:
    result = subprocess.run([str(WORKER_SCRIPT), "--version"], capture_output=True, text=True, check=True)
    assert __version__ in result.stdout


def test_config_error_exits_47_with_message(tmp_path: Path) -> None:
    config = tmp_path / "bad.cfg"
    config.write_text("[flamenco-worker]\nmanager_url = ftp://nope\n")
    result = subprocess.run([str(WORKER_SCRIPT), "-c", str(config)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 47
    assert "configuration error: manager_url must be an http:// or https:// URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_refused_registration_exits_1(tmp_path: Path) -> None:
    with FakeManager(registration_secret="psk") as psk_manager:
        env = worker_env(tmp_path, psk_manager)
        result = subprocess.run([str(WORKER_SCRIPT)], capture_output=True, text=True, cwd=tmp_path, env=env,
                                timeout=PROCESS_TIMEOUT_SECONDS)
    assert result.returncode == 1
    assert "check worker_registration_secret" in result.stderr


def test_single_runs_one_task_and_exits(manager: FakeManager, start_worker: Callable[..., subprocess.Popen]) -> None:
    first = manager.add_task(echo("only this one"))
    second = manager.add_task(echo("not this one"))
    proc = start_worker("--single")
    output, _ = proc.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    assert proc.returncode == 0, output
    assert manager.statuses(first) == ["active", "completed"]
    assert manager.statuses(second) == []
    assert manager.requests("/sign-off")


def test_sigterm_stops_subprocess_returns_task_and_signs_off(
    tmp_path: Path, manager: FakeManager, start_worker: Callable[..., subprocess.Popen],
) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    task_id = manager.add_task({"name": "exec", "settings": {"cmd": f'{sys.executable} -c "{script}"'}})
    proc = start_worker()
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), "the task's subprocess")
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    assert proc.returncode == 0, output
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    paths = [r.path for r in manager.requests()]
    assert paths.index(f"/tasks/{task_id}/return") < paths.index("/sign-off")
    assert manager.statuses(task_id) == ["active"]


def test_usr1_sleeps_usr2_wakes_sigint_stops(manager: FakeManager, start_worker: Callable[..., subprocess.Popen]) -> None:
    proc = start_worker()
    wait_for(lambda: manager.fetches(), "the first fetch")
    proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: manager.requests("/ack-status-change/asleep"), "ack asleep")
    task_id = manager.add_task(sleep(0))
    proc.send_signal(signal.SIGUSR2)
    wait_for(lambda: manager.requests("/ack-status-change/awake"), "ack awake")
    wait_for(lambda: "completed" in manager.statuses(task_id), "a task after waking")
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    assert proc.returncode == 0, output
    assert manager.requests("/sign-off")


def test_sigterm_while_manager_unreachable_exits_cleanly(
    manager: FakeManager, start_worker: Callable[..., subprocess.Popen],
) -> None:
    manager.stop()
    proc = start_worker()
    assert proc.stdout is not None
    for line in proc.stdout:  # the first failed registration attempt shows the loop is running
        if "retrying in" in line:
            break
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    assert proc.returncode == 0, output
    assert "Traceback" not in output


def test_unusable_queue_db_is_a_clear_config_error(tmp_path: Path, manager: FakeManager) -> None:
    env = worker_env(tmp_path, manager)
    (tmp_path / "a-file").write_text("")
    env["FLAMENCO_WORKER_TASK_UPDATE_QUEUE_DB"] = str(tmp_path / "a-file" / "queue.db")
    result = subprocess.run([str(WORKER_SCRIPT)], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=PROCESS_TIMEOUT_SECONDS)
    assert result.returncode == 47
    assert "cannot open task_update_queue_db" in result.stderr and "Traceback" not in result.stderr


def test_unwritable_credentials_file_is_a_clear_error(tmp_path: Path, manager: FakeManager) -> None:
    env = worker_env(tmp_path, manager)
    (tmp_path / "a-file").write_text("")
    env["FLAMENCO_WORKER_CREDENTIALS_FILE"] = str(tmp_path / "a-file" / "credentials.cfg")
    result = subprocess.run([str(WORKER_SCRIPT)], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=PROCESS_TIMEOUT_SECONDS)
    assert result.returncode == 1
    assert "cannot store the credentials in credentials_file" in result.stderr and "Traceback" not in result.stderr


def test_python_m_with_config_file(tmp_path: Path, manager: FakeManager) -> None:
    """How the local farm starts workers: ``python -m flamenco_worker.cli --config FILE``."""
    task_id = manager.add_task(echo("configured by file"))
    config = tmp_path / "flamenco-worker.cfg"
    config.write_text(f"""[flamenco-worker]
manager_url = {manager.url}
task_types = sleep
credentials_file = {tmp_path}/credentials.cfg
task_update_queue_db = {tmp_path}/flamenco-worker.db
fetch_retry_no_task_seconds = 0.1
may_i_run_interval_seconds = 0.2
""")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLAMENCO_WORKER_")}
    result = subprocess.run([sys.executable, "-m", "flamenco_worker.cli", "--config", str(config), "--single"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=PROCESS_TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stderr
    assert manager.statuses(task_id) == ["active", "completed"]
    assert (tmp_path / "credentials.cfg").is_file()


def queued_text_contains(db: Path, text: str) -> bool:
    """Whether any payload waiting in the worker's queue file contains ``text``."""
    if not db.exists():
        return False
    with sqlite3.connect(db) as conn:
        try:
            return any(text in payload for (payload,) in conn.execute("SELECT payload FROM updates"))
        except sqlite3.OperationalError:  # the worker has not created the table yet
            return False


def test_kill_9_loses_no_queued_update(
    tmp_path: Path, manager: FakeManager, start_worker: Callable[..., subprocess.Popen],
) -> None:
    """Updates the manager refused so far are on disk; a killed and restarted worker still delivers them."""
    task_id = manager.add_task(echo("first"), echo("second"), sleep(60))
    manager.update_status = 503
    first = start_worker()
    wait_for(lambda: queued_text_contains(tmp_path / "queue.db", "second"), "both log lines queued on disk")
    first.kill()
    first.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    assert manager.updates(task_id) == [], "nothing was accepted before the kill"
    manager.update_status = None
    second = start_worker()
    wait_for(lambda: {"first", "second"} <= set(manager.task_log(task_id)), "the first life's log lines")
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    assert manager.updates(task_id)[0]["task_status"] == "active"
    lines = manager.task_log(task_id)
    assert lines.index("first") < lines.index("second")


def test_test_mode_announces_only_test_tasks(manager: FakeManager, start_worker: Callable[..., subprocess.Popen]) -> None:
    proc = start_worker("--test")
    wait_for(lambda: manager.requests("/ack-status-change/testing"), "ack testing")
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    assert proc.returncode == 0, output
    assert manager.requests("/register-worker")[0].body["supported_task_types"] == ["test-blender-render"]
