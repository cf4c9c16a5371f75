"""echo, sleep, exec and log_a_lot with real subprocesses, including cancellation."""
from __future__ import annotations

import asyncio
import asyncio.base_subprocess
import dataclasses
import os
import shlex
import sys
import time
from pathlib import Path

import psutil
import pytest

from flamenco_worker.commands import CommandConfig, CommandFailed

from tests.worker.conftest import until
from tests.worker.fake_clock import FakeClock

from .conftest import FAST_CONFIG, RecordingContext

PYTHON = shlex.quote(sys.executable)


def python_cmd(code: str) -> str:
    return f"{PYTHON} -c {shlex.quote(code)}"


def test_exec_logs_output_with_pid_prefix(make, ctx: RecordingContext) -> None:
    command = make("exec", {"cmd": python_cmd("import sys; print('out line'); print('err line', file=sys.stderr)")})
    asyncio.run(command.run())
    output = [line.split(" > ", 1)[1] for line in ctx.logs if line.startswith("pid=")]
    assert sorted(output) == ["err line", "out line"]
    assert any(line.startswith("Executing ") for line in ctx.logs)
    assert any("exited with status code 0" in line for line in ctx.logs)
    assert ctx.progresses[-1] == 100


def test_exec_runs_without_a_shell(make, ctx: RecordingContext) -> None:
    asyncio.run(make("exec", {"cmd": "echo $HOME '|' done"}).run())
    assert "pid=" in ctx.log_text
    assert any(line.endswith("> $HOME | done") for line in ctx.logs)


def test_exec_strips_ld_library_path_and_closes_stdin(make, ctx, monkeypatch) -> None:
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/worker-private-libs")
    code = "import os, sys; print('LD=' + repr(os.environ.get('LD_LIBRARY_PATH'))); print('IN=' + repr(sys.stdin.read()))"
    asyncio.run(make("exec", {"cmd": python_cmd(code)}).run())
    assert any(line.endswith("> LD=None") for line in ctx.logs)
    assert any(line.endswith("> IN=''") for line in ctx.logs)


def test_exec_nonzero_exit_fails_with_output_tail(make) -> None:
    command = make("exec", {"cmd": python_cmd("print('about to fail'); raise SystemExit(3)")})
    with pytest.raises(CommandFailed) as info:
        asyncio.run(command.run())
    assert "failed with status 3" in str(info.value)
    assert "about to fail" in str(info.value)


def test_exec_death_by_signal_fails(make) -> None:
    command = make("exec", {"cmd": python_cmd("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")})
    with pytest.raises(CommandFailed, match="terminated by signal SIGKILL"):
        asyncio.run(command.run())


def test_exec_missing_program_fails_clearly(make) -> None:
    with pytest.raises(CommandFailed, match="Cannot execute /nonexistent/program"):
        asyncio.run(make("exec", {"cmd": "/nonexistent/program --flag"}).run())


def test_exec_non_utf8_output_does_not_abort(make, ctx: RecordingContext) -> None:
    code = "import sys; sys.stdout.buffer.write(b'caf\\xe9\\n')"
    asyncio.run(make("exec", {"cmd": python_cmd(code)}).run())
    assert any(line.endswith("> caf\ufffd") for line in ctx.logs)


def test_silent_subprocess_times_out(ctx: RecordingContext, make) -> None:
    config = CommandConfig(output_timeout_seconds=0.5, terminate_grace_seconds=1.0)
    command = make("exec", {"cmd": python_cmd("import time; time.sleep(60)")}, config)
    with pytest.raises(CommandFailed, match="timed out after 0.5 seconds"):
        asyncio.run(command.run())
    pids = [int(line.split("pid=")[1].split()[0]) for line in ctx.logs if line.startswith("TERMinating")]
    assert pids and not psutil.pid_exists(pids[0])


def _child_pids(ctx: RecordingContext) -> list[int]:
    return [int(line.rsplit("> ", 1)[1]) for line in ctx.logs if line.startswith("pid=") and line.rsplit("> ", 1)[1].isdigit()]


def _gone(pids: list[int]) -> bool:
    return all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in pids)


async def _cancel_when_started(command, ctx: RecordingContext, expected_pids: int) -> None:
    task = asyncio.create_task(command.run())
    while len(_child_pids(ctx)) < expected_pids:
        assert not task.done(), ctx.logs
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_cancelled_exec_leaves_no_process_behind(make, ctx: RecordingContext) -> None:
    # The shell starts a grandchild, then both print their PID and wait.
    script = f"{PYTHON} -c 'import os, time; print(os.getpid(), flush=True); time.sleep(60)' & echo $$; wait"
    command = make("exec", {"cmd": f"sh -c {shlex.quote(script)}"})
    asyncio.run(_cancel_when_started(command, ctx, expected_pids=2))
    pids = _child_pids(ctx)
    assert len(pids) == 2
    assert _gone(pids)
    assert any(line.startswith("TERMinating subprocess") for line in ctx.logs)


def test_cancelled_while_its_subprocess_starts_leaves_no_process_behind(make, tmp_path: Path, monkeypatch) -> None:
    """Cancelled after the child runs but before the command holds its process (a task aborted as Blender
    starts, on a busy machine): asyncio's pipe set-up is slowed down so the cancellation lands in it."""
    connect = asyncio.base_subprocess.BaseSubprocessTransport._connect_pipes

    async def slow_connect(self, waiter):
        await asyncio.sleep(0.3)
        await connect(self, waiter)

    monkeypatch.setattr(asyncio.base_subprocess.BaseSubprocessTransport, "_connect_pipes", slow_connect)
    pid_file = tmp_path / "pid"

    async def cancel_as_the_child_starts() -> int:
        # asyncio kills the direct child when its start is cancelled; the shell's own child is left to us.
        task = asyncio.create_task(make("exec", {"cmd": f"sh -c 'sleep 600 & echo $! > {pid_file}.tmp && mv "
                                                        f"{pid_file}.tmp {pid_file}; wait'"}).run())
        await until(pid_file.exists, what="the child's PID file")
        task.cancel()
        async with asyncio.timeout(30):  # the grandchild, left running, would hold the output pipe for 600 s
            with pytest.raises(asyncio.CancelledError):
                await task
        return int(pid_file.read_text())

    pid = asyncio.run(cancel_as_the_child_starts())
    assert _gone([pid]), f"pid {pid} outlived its cancelled command"


def test_process_ignoring_sigterm_is_killed_after_grace(make, ctx: RecordingContext) -> None:
    code = "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(os.getpid(), flush=True); time.sleep(60)"
    command = make("exec", {"cmd": python_cmd(code)}, CommandConfig(terminate_grace_seconds=0.3))
    asyncio.run(_cancel_when_started(command, ctx, expected_pids=1))
    assert _gone(_child_pids(ctx))


def test_background_children_do_not_outlive_the_command(make, ctx: RecordingContext, tmp_path: Path) -> None:
    # The shell exits as soon as its background child has printed its PID.
    marker = tmp_path / "started"
    child = f"import os, time; print(os.getpid(), flush=True); open({str(marker)!r}, 'w').close(); time.sleep(60)"
    script = f"{PYTHON} -c {shlex.quote(child)} & while [ ! -e {marker} ]; do sleep 0.05; done"
    asyncio.run(make("exec", {"cmd": f"sh -c {shlex.quote(script)}"}).run())
    pids = _child_pids(ctx)
    assert len(pids) == 1
    assert _gone(pids)


def test_cancelled_sleep_stops_at_once(make, ctx: RecordingContext) -> None:
    clock = FakeClock()

    command = make("sleep", {"time_in_seconds": 3600}, dataclasses.replace(FAST_CONFIG, clock=clock))

    async def cancel_sleep() -> None:
        task = asyncio.create_task(command.run(), name="sleep")
        await until(lambda: clock.pending("sleep"), what="the command to sleep")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert clock.pending() == []

    asyncio.run(cancel_sleep())
    assert ctx.logs[-1] == "Sleeping for 3600 seconds"


def test_sleep_sleeps_on_the_clock(make, ctx: RecordingContext) -> None:
    clock = FakeClock()
    command = make("sleep", {"time_in_seconds": 90}, dataclasses.replace(FAST_CONFIG, clock=clock))

    async def sleep_through() -> None:
        task = asyncio.create_task(command.run(), name="sleep")
        await until(lambda: clock.pending("sleep"), what="the command to sleep")
        clock.advance(89.999)
        await asyncio.sleep(0)
        assert not task.done(), "the command sleeps the whole time"
        clock.advance(0.001)
        await task

    asyncio.run(sleep_through())
    assert clock.elapsed == 90
    assert ctx.logs[-3:-1] == ["Sleeping for 90 seconds", "Done sleeping for 90 seconds"]


def test_log_a_lot_logs_the_requested_lines(make, ctx: RecordingContext) -> None:
    asyncio.run(make("log_a_lot", {"lines": 5}).run())
    lines = [line for line in ctx.logs if line.startswith("This is line")]
    assert len(lines) == 5
    assert lines[4].count("This is line 4") == 30


class TestPidFile:
    """Only one subprocess per PID file; stale files are cleared."""

    def config(self, tmp_path: Path) -> CommandConfig:
        return CommandConfig(subprocess_pid_file=tmp_path / "subprocess.pid")

    def test_pid_file_is_held_while_running_and_removed_after(self, make, ctx, tmp_path: Path) -> None:
        pid_file = tmp_path / "subprocess.pid"
        code = f"import os; print(open({str(pid_file)!r}).read().strip() == str(os.getpid()))"
        asyncio.run(make("exec", {"cmd": python_cmd(code)}, self.config(tmp_path)).run())
        assert any(line.endswith("> True") for line in ctx.logs)
        assert not pid_file.exists()

    def test_live_subprocess_blocks_another(self, make, tmp_path: Path) -> None:
        (tmp_path / "subprocess.pid").write_text(f"{os.getpid()}\n")
        with pytest.raises(CommandFailed, match="is still running"):
            asyncio.run(make("exec", {"cmd": "true"}, self.config(tmp_path)).run())

    def test_empty_pid_file_blocks(self, make, tmp_path: Path) -> None:
        (tmp_path / "subprocess.pid").write_text("")
        with pytest.raises(CommandFailed, match="Empty PID file"):
            asyncio.run(make("exec", {"cmd": "true"}, self.config(tmp_path)).run())

    def test_dead_pid_is_cleared(self, make, tmp_path: Path) -> None:
        dead = psutil.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / "subprocess.pid").write_text(f"{dead.pid}\n")
        asyncio.run(make("exec", {"cmd": "true"}, self.config(tmp_path)).run())
        assert not (tmp_path / "subprocess.pid").exists()

    def test_reused_pid_is_stale(self, make, tmp_path: Path) -> None:
        pid_file = tmp_path / "subprocess.pid"
        later = psutil.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            pid_file.write_text(f"{later.pid}\n")
            old = later.create_time() - 60
            os.utime(pid_file, (old, old))
            asyncio.run(make("exec", {"cmd": "true"}, self.config(tmp_path)).run())
        finally:
            later.kill()
            later.wait()
        assert not pid_file.exists()


KILLED_WORKER = """
import asyncio, sys
from flamenco_worker.commands import CommandConfig, create_command

class Ctx:
    task_id, command_index = "t", 0
    async def log(self, line):
        print(line, flush=True)
    async def progress(self, pct): pass
    async def activity(self, text): pass
    async def output_produced(self, *paths): pass

asyncio.run(create_command("exec", {"cmd": sys.argv[1]}, Ctx(), CommandConfig()).run())
"""


def test_subprocess_dies_with_a_killed_worker(tmp_path: Path) -> None:
    """kill -9 of the worker gives its command no chance to clean up; the kernel does it."""
    import subprocess

    child_code = "import os, time; print('CHILD', os.getpid(), flush=True); time.sleep(60)"
    worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, python_cmd(child_code)],
                              stdout=subprocess.PIPE, text=True)
    try:
        child_pid = None
        for line in worker.stdout:
            if "> CHILD" in line:
                child_pid = int(line.rsplit(None, 1)[-1])
                break
        assert child_pid is not None and psutil.pid_exists(child_pid)
        worker.kill()
        worker.wait()
        deadline = time.monotonic() + 5
        while not _gone([child_pid]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone([child_pid])
    finally:
        worker.kill()
