"""A real kernel OOM kill: a worker process in a memory-limited cgroup runs a task whose child allocates
until the kernel kills it. The render dies, the worker lives, and the task fails "killed: out of memory".

Needs a writable memory cgroup (root, cgroup v1 memory controller or cgroup v2
with the memory controller delegated to our cgroup); prlimit's RLIMIT_AS would
only give MemoryError, never the kernel's OOM killer. Where no such cgroup can
be made the test is skipped saying why; the evidence logic itself is also
covered against counter files in tests/worker/commands/test_oom.py.
"""
from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from flamenco_worker.commands.oom import CGROUP_ROOT, OOM_KILLED_MESSAGE, read_counter
from tests.worker.fake_manager import FakeManager
from tests.worker.test_cli import PROCESS_TIMEOUT_SECONDS, WORKER_SCRIPT, wait_for, worker_env

MEMORY_LIMIT_BYTES = 256 * 1024 * 1024
"""Room for the worker (~60 MB) but not for the child's allocations."""

ALLOCATE_UNTIL_KILLED = f"""
import sys
chunks = []
while len(chunks) * 16 < 4 * {MEMORY_LIMIT_BYTES >> 20}:
    chunks.append(b'x' * (16 << 20))
    print('allocated', len(chunks) * 16, 'MiB', flush=True)
sys.exit(3)  # the limit did not hold: fail instead of eating the machine's memory
"""


def own_cgroup(controller: str) -> str | None:
    """Our path in the v1 hierarchy of ``controller``, or in v2 for ""; None when not mounted."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == controller or (controller and controller in controllers.split(",")):
            return path
    return None


def make_limited_cgroup(name: str) -> tuple[Path, Path]:
    """Create a memory-limited cgroup below ours; returns (its directory, its OOM-kill counter)."""
    v1_path = own_cgroup("memory")
    if v1_path is not None and (CGROUP_ROOT / "memory").is_dir():
        directory = CGROUP_ROOT / "memory" / v1_path.lstrip("/") / name
        directory.mkdir()
        limit_file, counter = directory / "memory.limit_in_bytes", directory / "memory.oom_control"
    else:
        directory, limit_file, counter = make_v2_cgroup(name)
    try:
        limit_file.write_text(str(MEMORY_LIMIT_BYTES))
        if (directory / "memory.swap.max").is_file():
            (directory / "memory.swap.max").write_text("0")
    except OSError:
        directory.rmdir()
        raise
    return directory, counter


def make_v2_cgroup(name: str) -> tuple[Path, Path, Path]:
    """A cgroup v2 child of ours with the memory controller: (directory, memory.max, memory.events)."""
    v2_path = own_cgroup("")
    if v2_path is None or not (CGROUP_ROOT / "cgroup.controllers").is_file():
        raise OSError("no cgroup v1 memory controller and no cgroup v2 mounted at /sys/fs/cgroup")
    directory = CGROUP_ROOT / v2_path.lstrip("/") / name
    directory.mkdir()
    if not (directory / "memory.max").is_file():
        directory.rmdir()
        raise OSError(f"the cgroup v2 memory controller is not enabled for {directory.parent}")
    return directory, directory / "memory.max", directory / "memory.events"


def remove_cgroup(directory: Path) -> None:
    """rmdir the cgroup once its processes are gone (the kernel needs a moment after they exit)."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
    while True:
        try:
            directory.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def limited_cgroup() -> Iterator[tuple[Path, Path]]:
    try:
        directory, counter = make_limited_cgroup(f"flamenco-oom-test-{secrets.token_hex(4)}")
    except OSError as ex:
        pytest.skip(f"this machine does not let the test create a memory-limited cgroup: {ex}")
    try:
        yield directory, counter
    finally:
        remove_cgroup(directory)


def test_oom_kill_fails_the_task_not_the_worker(
    tmp_path: Path, manager: FakeManager, limited_cgroup: tuple[Path, Path],
) -> None:
    cgroup, counter = limited_cgroup
    kills_before = read_counter(counter)
    task_id = manager.add_task({"name": "exec", "settings": {"cmd": f"{sys.executable} -c {shlex.quote(ALLOCATE_UNTIL_KILLED)}"}})
    procs_file = os.fspath(cgroup / "cgroup.procs")

    def join_cgroup() -> None:
        """In the worker process before exec: enter the limited cgroup (only os calls here)."""
        fd = os.open(procs_file, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    worker = subprocess.Popen([str(WORKER_SCRIPT)], cwd=tmp_path, env=worker_env(tmp_path, manager),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=join_cgroup)
    try:
        wait_for(lambda: "failed" in manager.statuses(task_id), "the task to fail")
        assert worker.poll() is None, "the kernel killed the render, not the worker"
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    assert worker.returncode == 0, output

    assert kills_before is not None and read_counter(counter) == kills_before + 1
    assert manager.statuses(task_id) == ["active", "failed"]
    failed = [update for update in manager.updates(task_id) if update.get("task_status") == "failed"][-1]
    assert OOM_KILLED_MESSAGE in failed["activity"]
    log = manager.task_log(task_id)
    assert any("allocated 16 MiB" in line for line in log), "the child did run"
    assert any(OOM_KILLED_MESSAGE in line and f"oom_kill in {counter}" in line for line in log), log[-5:]
    assert not any("status 3" in line for line in log), "the memory limit held"
