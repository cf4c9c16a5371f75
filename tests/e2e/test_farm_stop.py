"""How the farm's supervisor stops its children (flamenco.farm.supervisor), with small real processes.

A stop must end a child's whole tree, also what runs in a session of its own,
must kill a child that ignores SIGTERM once its grace is over (Redis does when
it cannot save), and must stop the stages in order even after a restart.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil

from flamenco.farm.supervisor import Supervisor, alive, stop_process


def wait_for_line(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"nothing written to {path}")


def test_stop_ends_what_the_child_started_in_a_session_of_its_own(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    child = subprocess.Popen(["bash", "-c", f"setsid sleep 60 & echo $! > {pid_file}; wait"],
                             start_new_session=True)
    grandchild = psutil.Process(int(wait_for_line(pid_file)))
    started = time.monotonic()
    stop_process(child, grace=5)
    assert child.returncode is not None
    assert not alive(grandchild)
    assert time.monotonic() - started < 5


def test_a_child_ignoring_sigterm_is_killed_after_its_grace(tmp_path: Path) -> None:
    child = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60"], start_new_session=True)
    time.sleep(0.2)  # let the trap be set
    started = time.monotonic()
    stop_process(child, grace=0.5)
    assert child.returncode == -9
    assert 0.5 <= time.monotonic() - started < 5


def test_stages_stop_highest_first_also_after_a_restart(tmp_path: Path) -> None:
    """A restarted manager is started last but must still stop after the workers (and they sign off)."""
    order = tmp_path / "order"
    supervisor = Supervisor(tmp_path / "logs")

    def start(name: str, stage: int) -> None:
        # Says its name when stopped, after a moment, so that a stage stopped too early shows.
        script = f"trap 'sleep 0.1; echo {name} >> {order}; exit 0' TERM; while :; do sleep 0.05; done"
        supervisor.start(name, ["sh", "-c", script], env={"PATH": "/usr/bin:/bin"}, stage=stage)

    start("store", 0)
    start("manager", 2)
    start("worker-1", 3)
    start("worker-2", 3)
    time.sleep(0.2)
    crashed = supervisor.children[1]
    crashed.process.kill()
    crashed.process.wait()
    supervisor.release(crashed)
    start("manager", 2)  # the restart: newest child, yet not the first to stop
    time.sleep(0.2)
    supervisor.stop_all()
    lines = order.read_text().split()
    assert sorted(lines[:2]) == ["worker-1", "worker-2"]
    assert lines[2:] == ["manager", "store"]
    assert supervisor.children == []
