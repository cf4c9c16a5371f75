"""The out-of-memory guard: the kernel kills the render, not the worker, and the task says so.

When a render node runs out of memory, Linux's OOM killer SIGKILLs the
process with the highest ``oom_score`` (its memory use plus its
``oom_score_adj``). Without help that may be the worker itself, and then the
task hangs until the manager times it out. So every subprocess a command
starts gets a raised ``oom_score_adj`` (the worker's ``oom_score_adj``
setting), written in the child before exec so that everything it forks
inherits it too.

A SIGKILL alone does not prove an OOM kill: a human may have sent it. The
evidence is the kernel's ``oom_kill`` counter rising while the subprocess ran:
that of the worker's memory cgroup (cgroup v2 ``memory.events``, v1
``memory.oom_control``), else the machine's (``/proc/vmstat``). Only then does
the command fail with "killed: out of memory"; otherwise it stays "terminated
by signal SIGKILL (9)".
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)

OOM_SCORE_ADJ_MIN = -1000
"""The kernel's range of oom_score_adj (linux/oom.h): -1000 means never kill..."""

OOM_SCORE_ADJ_MAX = 1000
"""...and 1000 means kill this first."""

OOM_KILLED_MESSAGE = "killed: out of memory"
"""What the task's activity and log say when the OOM killer took the subprocess."""

PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")
"""Where cgroup v2 (or, on a v1/hybrid system, one directory per controller) is mounted."""

CGROUP_V1_UNIFIED = "unified"
"""The cgroup v2 hierarchy's directory under CGROUP_ROOT on a hybrid (v1 + v2) system."""

COUNTER_KEY = "oom_kill"
"""The line of memory.events, memory.oom_control and /proc/vmstat that counts OOM kills."""


def supported() -> bool:
    """True where oom_score_adj and the OOM counters exist (Linux)."""
    return sys.platform.startswith("linux")


@functools.cache
def log_unsupported_once() -> None:
    """Say once per worker that the guard is off, instead of once per command."""
    log.info("oom_score_adj is Linux-only: subprocesses run with the worker's own OOM score on %s", sys.platform)


def set_own_score_adj(value: int) -> None:
    """In the child, before exec: raise our own oom_score_adj to ``value`` (0: leave it).

    Errors are swallowed: a child cannot report them, and a failed write must
    not stop the render. The parent checks the result with :func:`score_adj_warning`.
    Only ``os`` calls: this runs between fork and exec.
    """
    if value == 0 or not supported():
        return
    try:
        fd = os.open(PROC / "self" / "oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def read_score_adj(pid: int | str, proc: Path = PROC) -> int | None:
    """The oom_score_adj of a process, or None when it is gone (or this is not Linux)."""
    try:
        return int((proc / str(pid) / "oom_score_adj").read_text())
    except (OSError, ValueError):
        return None


def score_adj_warning(pid: int, wanted: int, proc: Path = PROC) -> str | None:
    """Why the subprocess ``pid`` does not have oom_score_adj ``wanted``, or None when it has.

    Raising needs no privilege, but lowering below the worker's own score
    needs CAP_SYS_RESOURCE: the kernel answers EACCES and the child keeps the
    worker's score. A process that already exited cannot be checked.
    """
    if wanted == 0 or not supported():
        return None
    actual = read_score_adj(pid, proc)
    if actual is None or actual == wanted:
        return None
    own = read_score_adj("self", proc)
    cause = ("lowering it below the worker's own needs CAP_SYS_RESOURCE" if own is not None and wanted < own
             else "the kernel refused the write, or the subprocess changed it")
    return f"Could not set oom_score_adj={wanted} on pid={pid}, it is {actual} (the worker's is {own}): {cause}"


def read_counter(path: Path) -> int | None:
    """The ``oom_kill`` value of a ``key value`` per line file, or None when unreadable."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(" ")
        if key == COUNTER_KEY:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _cgroup_counter_paths(proc_cgroup: str, cgroup_root: Path) -> list[Path]:
    """Candidate OOM counters of the memory cgroup in a ``/proc/<pid>/cgroup`` text, v2 first.

    Lines are ``hierarchy-id:controllers:path``; ``0::path`` is cgroup v2,
    mounted at ``cgroup_root`` (or at ``cgroup_root/unified`` on a hybrid
    system); v1's memory controller has its own directory.
    """
    v2: list[Path] = []
    v1: list[Path] = []
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[2].startswith("/"):
            continue
        _, controllers, cgroup = parts
        relative = cgroup.lstrip("/")
        if not controllers:
            v2 += [cgroup_root / relative / "memory.events",
                   cgroup_root / CGROUP_V1_UNIFIED / relative / "memory.events"]
        elif "memory" in controllers.split(","):
            v1.append(cgroup_root / "memory" / relative / "memory.oom_control")
    return v2 + v1


def find_counter(proc: Path = PROC, cgroup_root: Path = CGROUP_ROOT) -> Path | None:
    """The narrowest readable OOM-kill counter covering the worker: its memory cgroup's, else the machine's.

    Subprocesses start in the worker's cgroup. Its counter only moves for
    kills inside that cgroup (v2
    also counts its sub-cgroups), so another service's OOM kill is not
    blamed on the render. The root cgroup of v2 has no memory.events, hence
    the fallback to /proc/vmstat.
    """
    try:
        proc_cgroup = (proc / "self" / "cgroup").read_text()
    except OSError:
        proc_cgroup = ""
    for path in [*_cgroup_counter_paths(proc_cgroup, cgroup_root), proc / "vmstat"]:
        if read_counter(path) is not None:
            return path
    return None


@dataclasses.dataclass(frozen=True)
class OomWatch:
    """The OOM-kill counter read before a subprocess started, to compare with after it died."""

    counter: Path
    before: int

    @classmethod
    def start(cls, proc: Path = PROC, cgroup_root: Path = CGROUP_ROOT) -> OomWatch | None:
        """Read the counter of the worker's own cgroup, which the subprocess will inherit.

        Read before the spawn, so even a child killed at once is compared
        with the right baseline. None when no counter is readable.
        """
        if not supported():
            return None
        counter = find_counter(proc, cgroup_root)
        before = read_counter(counter) if counter is not None else None
        if counter is None or before is None:
            return None
        return cls(counter, before)

    def evidence(self, returncode: int) -> str | None:
        """How we know the OOM killer took the subprocess that exited with ``returncode``, or None.

        Both must hold: it died of SIGKILL (asyncio's ``-9``), and the counter
        rose since :meth:`start`. A SIGKILL alone may come from a human; a rise
        alone may be another process's death.
        """
        if returncode != -signal.SIGKILL:
            return None
        after = read_counter(self.counter)
        if after is None or after <= self.before:
            return None
        return f"{COUNTER_KEY} in {self.counter} went from {self.before} to {after}"
