"""Task log files on the Manager's disk (reference A.7.1).

The Manager keeps the whole log of every task; the Server gets each chunk as
it comes (``log``, for its live log view) with its last lines (``log_tail``),
and, when a user asks, a gzipped copy of the file.
"""
from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

# Lines of log sent upstream with every update (the Server stores them on the task),
# and at most this many characters of them, so no update outgrows a document.
LOG_TAIL_LINES = 10
LOG_TAIL_MAX_CHARS = 16 * 1024
# Serving a log to a browser: files up to this size are sent whole; bigger ones
# as head + notice + tail, so a page never has to hold a huge log.
FULL_LOG_MAX_BYTES = 15 * 1024
HEAD_BYTES = 5 * 1024
TAIL_BYTES = 10 * 1024
# Stand-in upload when the Manager has no log, so the Server stops asking.
MISSING_LOG_TEXT = "log file does not exist on Flamenco Manager\n"
# Job id used for tasks without a job (e.g. a cancel for an unknown task).
NO_JOB = "0" * 24
# How a log file is opened for an append (created if missing), and the mode a new one gets.
LOG_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT  # os.open makes it non-inheritable itself
LOG_FILE_MODE = 0o666  # as open() makes it: the umask decides


def log_path(root: str | os.PathLike, job_id: str | None, task_id: str) -> Path:
    """``{root}/job-<first 4 of job>/<job>/task-<task>.txt``."""
    return Path(_log_file(root, job_id, task_id))


def _log_file(root: str | os.PathLike, job_id: str | None, task_id: str) -> str:
    """:func:`log_path` as text, for the journal's log writes: building a ``Path`` there
    (three joins, each parsing its parts) was 7 % of the manager's interpreter time under a
    hundred workers (py-spy --gil, 2026-12-04)."""
    job = str(job_id or NO_JOB)
    return os.path.join(root, f"job-{job[:4]}", job, f"task-{task_id}.txt")


def append(root: str | os.PathLike, job_id: str | None, task_id: str, text: str) -> None:
    """Append ``text`` to the task's log, ending it with a newline.

    Plain ``os.open``/``os.write``, and the job's directory made only when the
    open finds it missing: ``mkdir(exist_ok=True)`` and a text-mode ``open``
    made ten system calls per append (strace) and were a fifth of the
    manager's busy time under a hundred workers (py-spy, 2026-12-03); this
    makes three.
    """
    if not text:
        return
    path = _log_file(root, job_id, task_id)
    if not text.endswith("\n"):
        text += "\n"
    try:
        fd = os.open(path, LOG_OPEN_FLAGS, LOG_FILE_MODE)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, LOG_OPEN_FLAGS, LOG_FILE_MODE)
    try:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def prepare(root: str | os.PathLike, job_id: str | None, task_ids: Iterable[str]) -> None:
    """Create the (empty) log files of tasks that arrive, so that handing one out only appends.

    Creating a file costs far more than appending to one: 15 us to 0.7 ms of
    kernel time here (ext4 in a virtual machine, 2026-12-04), a round trip on
    a network share. Done by the sync thread when tasks are downloaded, it is
    off the path of every worker's request; the journal's log writes, which
    a worker's answer waits for, find the file there. An existing file is
    left as it is (no truncation), so a re-downloaded task keeps its log.
    """
    for task_id in task_ids:
        path = _log_file(root, job_id, task_id)
        try:
            fd = os.open(path, LOG_OPEN_FLAGS, LOG_FILE_MODE)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, LOG_OPEN_FLAGS, LOG_FILE_MODE)
        os.close(fd)


def rotate(root: str | os.PathLike, job_id: str | None, task_id: str, max_rotations: int) -> None:
    """Move ``task-X.txt`` to ``.txt.1``, ``.N`` to ``.N+1``; drop the ones past the limit.

    Called when a task (re)starts, so every run has its own file. An empty
    file (made by :func:`prepare`, or a run that logged nothing) is kept as
    the new run's file: there is nothing in it to keep apart.
    """
    path = _log_file(root, job_id, task_id)
    try:
        if os.stat(path).st_size == 0:
            return
    except FileNotFoundError:
        return  # a task's first run: nothing to rotate
    Path(f"{path}.{max_rotations}").unlink(missing_ok=True)
    for n in range(max_rotations - 1, 0, -1):
        if os.path.exists(f"{path}.{n}"):
            os.replace(f"{path}.{n}", f"{path}.{n + 1}")
    if max_rotations >= 1:
        os.replace(path, f"{path}.1")
    else:
        os.unlink(path)


class PendingWrites:
    """Appends and rotations recorded on the event loop, written by the journal's writer thread.

    Opening, stat-ing and appending to a file per update took 40 % of the
    event loop's time under a hundred workers (the loop waits on the disk
    meanwhile). The journal writes these with the group commit that holds
    the update, before the worker is answered, so a line acknowledged to a
    worker is in its file. Order per file is kept: a rotation splits the
    appends before it from those after it; appends to one file in between
    become one write.
    """

    def __init__(self) -> None:
        self.ops: list[tuple[str, str | os.PathLike, str | None, str, str | int]] = []

    def __bool__(self) -> bool:
        return bool(self.ops)

    def append(self, root: str | os.PathLike, job_id: str | None, task_id: str, text: str) -> None:
        if text:
            self.ops.append(("append", root, job_id, task_id, text))

    def rotate(self, root: str | os.PathLike, job_id: str | None, task_id: str, max_rotations: int) -> None:
        self.ops.append(("rotate", root, job_id, task_id, max_rotations))

    def write(self) -> None:
        """Apply every recorded operation in order; a failing file is logged, the others still written."""
        texts: dict[tuple, list[str]] = {}
        for kind, root, job_id, task_id, arg in self.ops:
            key = (root, job_id, task_id)
            if kind == "append":
                texts.setdefault(key, []).append(str(arg) if str(arg).endswith("\n") else f"{arg}\n")
                continue
            self._append(key, texts.pop(key, None))
            self._guarded(rotate, root, job_id, task_id, int(arg))
        for key, chunks in texts.items():
            self._append(key, chunks)
        self.ops = []

    def _append(self, key: tuple, chunks: list[str] | None) -> None:
        if chunks:
            root, job_id, task_id = key
            self._guarded(append, root, job_id, task_id, "".join(chunks))

    @staticmethod
    def _guarded(func: Callable[..., None], root: str | os.PathLike, job_id: str | None, task_id: str,
                 arg: str | int) -> None:
        try:
            func(root, job_id, task_id, arg)
        except OSError as ex:
            log.error("task log of task %s: %s", task_id, ex)


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text`` (at most LOG_TAIL_MAX_CHARS of them)."""
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])[-LOG_TAIL_MAX_CHARS:]


def excerpt(path: Path) -> bytes:
    """The whole file if small, else its head, a notice, and its tail from a line start."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if size <= FULL_LOG_MAX_BYTES:
            return f.read()
        head = f.read(HEAD_BYTES)
        f.seek(size - TAIL_BYTES)
        tail_bytes = f.read()
    newline = tail_bytes.find(b"\n")
    if newline >= 0:
        tail_bytes = tail_bytes[newline + 1:]
    notice = (f"\n\n... Skipped {size - len(head) - len(tail_bytes)} bytes, "
              f"use WGet or Curl to download the entire log ...\n\n").encode()
    return head + notice + tail_bytes


def gzipped(root: str | os.PathLike, job_id: str | None, task_id: str) -> bytes:
    """The gzipped log for upload to the Server; a stub when there is none."""
    path = log_path(root, job_id, task_id)
    data = path.read_bytes() if path.exists() else b""
    if not data:  # never run here (its file was only prepared), or no file at all
        data = MISSING_LOG_TEXT.encode()
    return gzip.compress(data, compresslevel=9)
