"""The OOM guard: subprocesses get the configured oom_score_adj, and OOM kills are told from other SIGKILLs.

The scores are read from /proc of real children started through the real
command code. The OOM evidence is read from counter files laid out as the
kernel does (cgroup v2, v1/hybrid, /proc/vmstat) in tmp_path; a real kernel
OOM kill is in tests/worker/test_oom_kill.py.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flamenco_worker.commands import CommandConfig
from flamenco_worker.commands.oom import OomWatch, find_counter, read_counter
from tests.worker.conftest import until

from .conftest import FAST_CONFIG, RecordingContext

REPO_ROOT = Path(__file__).resolve().parents[3]


def own_score() -> int:
    return int(Path("/proc/self/oom_score_adj").read_text())


def score_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


async def scores_while_running(make, config: CommandConfig, tmp_path: Path) -> tuple[int, int]:
    """Run a shell that starts a background grandchild; return (child, grandchild) scores read from /proc."""
    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $$ $! > {pids}.tmp && mv {pids}.tmp {pids}; wait"
    running = asyncio.create_task(make("exec", {"cmd": f"sh -c '{script}'"}, config).run())
    try:
        await until(pids.exists, what="the subprocess's PID file")
        child, grandchild = (int(pid) for pid in pids.read_text().split())
        return score_of(child), score_of(grandchild)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


@pytest.mark.parametrize("wanted", [500, 1000, 1])
def test_subprocess_and_its_children_get_the_configured_score(make, tmp_path: Path, wanted: int) -> None:
    before = own_score()
    config = CommandConfig(terminate_grace_seconds=1.0, oom_score_adj=wanted)
    assert asyncio.run(scores_while_running(make, config, tmp_path)) == (wanted, wanted)
    assert own_score() == before, "the worker keeps its own score"


def test_default_config_raises_the_score(make, tmp_path: Path) -> None:
    child, _ = asyncio.run(scores_while_running(make, FAST_CONFIG, tmp_path))
    assert child == CommandConfig().oom_score_adj == 500


def test_zero_leaves_the_workers_score(make, tmp_path: Path, ctx: RecordingContext) -> None:
    config = CommandConfig(terminate_grace_seconds=1.0, oom_score_adj=0)
    assert asyncio.run(scores_while_running(make, config, tmp_path)) == (own_score(), own_score())
    assert "oom_score_adj" not in ctx.log_text


HARNESS = textwrap.dedent("""
    import asyncio, sys
    from flamenco_worker.commands import CommandConfig, create_command

    class PrintingContext:
        task_id = "t"
        command_index = 0
        async def log(self, line): print("LOG", line, flush=True)
        async def progress(self, pct): pass
        async def activity(self, text): pass
        async def output_produced(self, *paths): pass

    child = sys.executable + " -c 'print(\\"child score\\", open(\\"/proc/self/oom_score_adj\\").read().strip())'"
    config = CommandConfig(oom_score_adj=int(sys.argv[1]))
    asyncio.run(create_command("exec", {"cmd": child}, PrintingContext(), config).run())
""")


def test_lowering_without_cap_sys_resource_warns_and_runs(tmp_path: Path) -> None:
    """Lowering below the worker's own score is refused by the kernel (EACCES): a warning, not a crash."""
    assert own_score() > -500, "the test needs a worker score above the wanted one"
    drop_privilege: list[str] = []
    if os.geteuid() == 0:  # root has CAP_SYS_RESOURCE: drop it as an unprivileged worker lacks it
        setpriv = shutil.which("setpriv")
        assert setpriv, "util-linux's setpriv is needed to drop CAP_SYS_RESOURCE when running as root"
        drop_privilege = [setpriv, "--bounding-set=-sys_resource", "--inh-caps=-sys_resource"]
    result = subprocess.run([*drop_privilege, sys.executable, "-c", HARNESS, "-500"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"child score {own_score()}" in result.stdout, "the child keeps the worker's score"
    assert "Could not set oom_score_adj=-500" in result.stdout
    assert "needs CAP_SYS_RESOURCE" in result.stdout
    assert "exited with status code 0" in result.stdout


# ---------------------------------------------------------------- OOM evidence, from files laid out as the kernel does

def fake_proc(root: Path, cgroup: str, vmstat_oom_kills: int | None = 7) -> Path:
    """A /proc with ``self/cgroup`` and (optionally) a vmstat counting OOM kills."""
    proc = root / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup)
    if vmstat_oom_kills is not None:
        (proc / "vmstat").write_text(f"nr_free_pages 123\noom_kill {vmstat_oom_kills}\nnr_foo 4\n")
    return proc


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cgroup_v2_counter_is_memory_events(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, "0::/system.slice/flamenco-worker.service\n")
    events = write_file(tmp_path / "cg/system.slice/flamenco-worker.service/memory.events",
                        "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n")
    assert find_counter(proc, tmp_path / "cg") == events
    assert read_counter(events) == 2


def test_hybrid_system_uses_the_v1_memory_controller(tmp_path: Path) -> None:
    """This test machine's layout: v2 mounted at unified/ without the memory controller."""
    proc = fake_proc(tmp_path, "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n")
    write_file(tmp_path / "cg/unified/cgroup.procs", "")
    control = write_file(tmp_path / "cg/memory/process_api/abc/memory.oom_control",
                         "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert find_counter(proc, tmp_path / "cg") == control
    assert read_counter(control) == 3


def test_without_a_memory_cgroup_counter_the_machines_counter_is_used(tmp_path: Path) -> None:
    """The v2 root cgroup has no memory.events."""
    proc = fake_proc(tmp_path, "0::/\n")
    assert find_counter(proc, tmp_path / "cg") == proc / "vmstat"


def test_no_counter_means_no_watch(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, "0::/\n", vmstat_oom_kills=None)
    assert OomWatch.start(proc, tmp_path / "cg") is None


@pytest.mark.parametrize(("returncode", "kills_meanwhile", "is_oom"), [
    (-signal.SIGKILL, 1, True),
    (-signal.SIGKILL, 0, False),  # a human's kill -9
    (-signal.SIGTERM, 1, False),  # another process was OOM-killed; ours was stopped
    (1, 1, False),
])
def test_oom_needs_sigkill_and_a_rising_counter(tmp_path: Path, returncode: int, kills_meanwhile: int,
                                                is_oom: bool) -> None:
    proc = fake_proc(tmp_path, "0::/farm/worker\n")
    events = write_file(tmp_path / "cg/farm/worker/memory.events", "oom 4\noom_kill 4\n")
    watch = OomWatch.start(proc, tmp_path / "cg")
    assert watch is not None and watch.before == 4
    events.write_text(f"oom {4 + kills_meanwhile}\noom_kill {4 + kills_meanwhile}\n")
    evidence = watch.evidence(returncode)
    if is_oom:
        assert evidence == f"oom_kill in {events} went from 4 to 5"
    else:
        assert evidence is None

