"""Start, watch and stop the child processes of a local farm.

Hand-written rather than using honcho/supervisord: the farm's process list is
computed at run time (N workers, optional data store), each child needs its
own environment and log file, and stopping must happen in reverse start order
(workers before the manager before the server before the data store) so no
update is left in flight. That is ~80 lines; a Procfile runner cannot express
the ordering and a daemon supervisor would outlive Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

if TYPE_CHECKING:
    from flamenco.farm.identities import Identity

# How long a child gets to exit after SIGTERM before it is killed. Workers
# sign off from their manager on SIGTERM, which takes one HTTP round trip.
STOP_GRACE_SECONDS = 15.0
# Lines of a dead child's log the farm shows: enough for a traceback's end
# or a configuration error, short enough for a terminal.
LOG_TAIL_LINES = 20


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    process: subprocess.Popen
    log_path: Path


class Supervisor:
    """Owns the farm's child processes; ``stop_all`` ends them newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None,
              run_as: Identity | None = None) -> Child:
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
        child = Child(name, list(argv), process, log_path)
        self.children.append(child)
        return child

    def adopt(self, name: str, process: subprocess.Popen, log_path: Path) -> None:
        """Supervise a process started elsewhere (e.g. by ``services``)."""
        self.children.append(Child(name, [], process, log_path))

    def exited(self) -> list[Child]:
        """Children that have stopped on their own."""
        return [c for c in self.children if c.process.poll() is not None]

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
        """SIGTERM every child newest-first, kill the ones that do not exit."""
        for child in reversed(self.children):
            stop_process_group(child.process)
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


def stop_process(process: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM one child, SIGKILL it if it has not exited after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_process_group(process: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """Terminate a child's whole process group (children of children too)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs ``module`` with this interpreter (no PATH lookups)."""
    return [sys.executable, "-m", module, *args]
