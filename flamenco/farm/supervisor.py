"""Start, watch and stop the child processes of a local farm.

Hand-written rather than using honcho/supervisord: the farm's process list is
computed at run time (N workers, optional data store), each child needs its
own environment and log file, and stopping must happen in stages (workers
before the manager before the server before the data store) so no update is
left in flight. A Procfile runner cannot express the ordering and a daemon
supervisor would outlive Ctrl-C.

A child is stopped with everything it started, and the stop returns only
when all of it is gone: its process group gets the signals, and its process
tree, read (psutil) before the first signal because a dead process's children
are re-parented and nothing links them to it any more, gets whatever outlived
it (a worker's Blender runs in a session of its own). A child that died by
itself is released with what is left of its process group (a killed Celery's
pool and beat would otherwise run on beside its restarted successor).
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import psutil

if TYPE_CHECKING:
    from flamenco.farm.identities import Identity

# How long a child gets to exit after SIGTERM before it is killed. Workers
# sign off from their manager on SIGTERM, which takes one HTTP round trip
# (bounded by the worker's own shutdown timeouts, 10 s + 5 s for its task).
STOP_GRACE_SECONDS = 15.0
# What is left of a tree after its leader exited (or was killed) gets SIGTERM,
# then SIGKILL after this long; also how long SIGKILLed processes may take to go.
LEFTOVER_GRACE_SECONDS = 3.0
# Lines of a dead child's log the farm shows: enough for a traceback's end
# or a configuration error, short enough for a terminal.
LOG_TAIL_LINES = 20
# How often a stop looks at its processes.
POLL_SECONDS = 0.05
# How often a stop re-reads the trees of the children still running.
TREE_REREAD_SECONDS = 0.5


@dataclass
class Child:
    """One supervised process.

    ``stage``: :meth:`Supervisor.stop_all` stops the highest stage first and
    the children of one stage together. ``grace``: seconds between SIGTERM
    and SIGKILL.
    """

    name: str
    argv: list[str]
    process: subprocess.Popen
    log_path: Path
    stage: int = 0
    grace: float = STOP_GRACE_SECONDS


class Supervisor:
    """Owns the farm's child processes; ``stop_all`` ends them by stage, the highest stage first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def _next_stage(self) -> int:
        """Without an explicit stage, a child is stopped before every older one."""
        return max((c.stage for c in self.children), default=-1) + 1

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None,
              run_as: Identity | None = None, stage: int | None = None,
              grace: float = STOP_GRACE_SECONDS) -> Child:
        """Start ``argv`` with exactly ``env``, stdout+stderr appended to ``<log_dir>/<name>.log``.

        The log is opened here, so a child running as ``run_as`` writes its
        log without being able to read the others in the private log dir.
        """
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                list(argv), stdout=log, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd,
                start_new_session=True, **(run_as.popen_options() if run_as else {}),
            )
        child = Child(name, list(argv), process, log_path,
                      stage=self._next_stage() if stage is None else stage, grace=grace)
        self.children.append(child)
        return child

    def adopt(self, name: str, process: subprocess.Popen, log_path: Path, stage: int | None = None,
              grace: float = STOP_GRACE_SECONDS) -> Child:
        """Supervise a process started elsewhere (e.g. by ``services``)."""
        child = Child(name, [], process, log_path, stage=self._next_stage() if stage is None else stage,
                      grace=grace)
        self.children.append(child)
        return child

    def exited(self) -> list[Child]:
        """Children that have stopped on their own."""
        return [c for c in self.children if c.process.poll() is not None]

    def release(self, child: Child) -> None:
        """Stop supervising a child that died, and end what is left of its process group."""
        self.children.remove(child)
        stop_leftovers(group_members(child.process.pid))

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """Poll ``check`` until true; fail early if a child dies meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = self.exited()
            if dead:
                raise RuntimeError(f"{dead[0].name} exited while waiting for {what}\n{describe_exit(dead[0])}")
            try:
                if check():
                    return
            except Exception:  # noqa: BLE001 - "not ready yet"
                pass
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")

    def stop_all(self) -> None:
        """Stop every child with its whole process tree, highest stage first, a stage's children together.

        Returns when none of them, and nothing they started, is running.
        """
        for stage in sorted({c.stage for c in self.children}, reverse=True):
            batch = [c for c in self.children if c.stage == stage]
            stop_trees([c.process for c in batch], [c.grace for c in batch])
        self.children.clear()


def describe_exit(child: Child) -> str:
    """How a child ended and the last lines of its log, for the farm's operator."""
    return (f"{child.name} exited with code {child.process.returncode}; last lines of {child.log_path}:\n"
            f"{log_tail(child.log_path)}")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file (empty when there is none)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def descendants(pid: int) -> list[psutil.Process]:
    """Every live descendant of ``pid`` (other sessions too); empty when ``pid`` is gone."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def group_members(pgid: int) -> list[psutil.Process]:
    """Running members of process group ``pgid`` (what a dead group leader left behind)."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and alive(proc):
                members.append(proc)
    return members


def alive(proc: psutil.Process) -> bool:
    """Still running: not gone, not a zombie (an orphan waiting for init), not a new process with its pid."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(procs: Iterable[psutil.Process], sig: signal.Signals) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)  # psutil refuses a pid that now names another process


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has ended; return those still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        procs = [p for p in procs if alive(p)]
        if not procs or time.monotonic() >= deadline:
            return procs
        time.sleep(POLL_SECONDS)


def stop_leftovers(procs: Sequence[psutil.Process], grace: float = LEFTOVER_GRACE_SECONDS) -> None:
    """SIGTERM what is still running of ``procs``, SIGKILL it after ``grace``, wait until it is gone."""
    running = [p for p in procs if alive(p)]
    if not running:
        return
    _signal(running, signal.SIGTERM)
    running = _wait_gone(running, grace)
    _signal(running, signal.SIGKILL)
    _wait_gone(running, LEFTOVER_GRACE_SECONDS)


def _signal_leader(process: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal a child's process group when it leads one (``start_new_session``), else the child alone."""
    if process.poll() is not None:
        return
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_trees(processes: Sequence[subprocess.Popen], graces: Sequence[float]) -> None:
    """Stop several children at once, each with everything it started; return when all of it is gone.

    Each gets SIGTERM (its whole process group when it leads one) and its
    grace to exit, then SIGKILL. Its descendants, read before the first
    signal and again while it runs, get the same once it has exited: the
    child is given the chance to stop them itself first (a worker stops its
    Blender and reports the task), but nothing it started outlives the stop.
    """
    trees = {p.pid: descendants(p.pid) for p in processes}
    for process in processes:
        _signal_leader(process, signal.SIGTERM)
    deadlines = {p.pid: time.monotonic() + grace for p, grace in zip(processes, graces)}
    pending = list(processes)
    last_look = time.monotonic()
    while pending:
        now = time.monotonic()
        for process in [p for p in pending if p.poll() is None and now >= deadlines[p.pid]]:
            trees[process.pid] = _merge(trees[process.pid], descendants(process.pid))
            _signal_leader(process, signal.SIGKILL)
        if now - last_look >= TREE_REREAD_SECONDS:  # what a child starts while it stops is part of its tree
            last_look = now
            for process in pending:
                if process.poll() is None:
                    trees[process.pid] = _merge(trees[process.pid], descendants(process.pid))
        pending = [p for p in pending if p.poll() is None]
        if pending:
            time.sleep(POLL_SECONDS)
    stop_leftovers([proc for tree in trees.values() for proc in tree])


def _merge(known: list[psutil.Process], seen: list[psutil.Process]) -> list[psutil.Process]:
    pids = {p.pid for p in known}
    return known + [p for p in seen if p.pid not in pids]


def stop_process(process: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM one child, SIGKILL it after ``grace`` seconds; what it started is stopped too."""
    stop_trees([process], [grace])


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs ``module`` with this interpreter (no PATH lookups)."""
    return [sys.executable, "-m", module, *args]
