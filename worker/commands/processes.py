"""Running one subprocess for a command: the only place commands spawn processes.

What it guarantees, per Flamenco 2 (reference B.8.2) with its weaknesses fixed:

* stdin is /dev/null, stderr is merged into stdout, ``LD_LIBRARY_PATH`` is
  removed from the environment (the worker's bundled libraries must not leak
  into Blender or FFmpeg);
* every output line is logged as ``pid=N > line``; undecodable bytes are
  replaced instead of aborting the command (D.2.12);
* a non-zero exit or a death by signal raises :class:`CommandFailed` quoting
  the tail of the output, so the task's activity says *why*;
* the child runs in its own session: on cancellation the whole process group
  (and any descendant psutil still sees) gets SIGTERM, then SIGKILL after a
  grace period; when the main process exits, leftovers in its group are
  killed too. No process outlives its command;
* every subprocess gets the configured ``oom_score_adj`` (see :mod:`.oom`), so
  the kernel's OOM killer takes the render, not the worker; a death by
  SIGKILL while the OOM-kill counter rose fails as "killed: out of memory";
* the optional PID file keeps two workers on one machine from rendering at
  once; a PID file naming a process that started *after* the file was
  written is stale (the PID was reused) and is removed (D.2.12).

Every wait here is real time, not ``CommandConfig.clock``: the output timeout,
the terminate grace period, the exit polling and the wait for killed processes
all bound what real processes do, which takes real seconds whatever a test's
clock says.
"""
from __future__ import annotations

import asyncio
import collections
import ctypes
import contextlib
import functools
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, Iterator, Sequence, TypeVar

import psutil

from flamenco_worker.commands import oom
from flamenco_worker.commands.base import CommandContext, CommandFailed
from flamenco_worker.commands.defaults import OUTPUT_TAIL_LINES, CommandConfig

log = logging.getLogger(__name__)

LineHandler = Callable[[str], Awaitable[None]]

T = TypeVar("T")

READ_CHUNK_BYTES = 64 * 1024
# linux/prctl.h: deliver a signal to this process when its parent dies.
PR_SET_PDEATHSIG = 1
"""Output is read in chunks of this size and split into lines here."""

MAX_LINE_BYTES = 1024 * 1024
"""A line longer than this is cut; bounds memory for output without line ends."""

LINE_END = re.compile(rb"\r\n|\r|\n")

EXIT_POLL_SECONDS = 0.1
"""How often to check whether the main process exited. Process.wait() cannot
tell: it also waits for the output pipe, which a leftover child keeps open."""

PID_REUSE_TOLERANCE_SECONDS = 1.0
"""Slack between a process's start time and its PID file's mtime (clock granularity)."""


def subprocess_environment() -> dict[str, str]:
    """The worker's environment without LD_LIBRARY_PATH (Flamenco 2.5)."""
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    return env


def find_executable(program: str, setting: str) -> str:
    """The full path of ``program``: a path, or a name looked up on $PATH.

    Flamenco 2 looked ffmpeg up on $PATH but required blender_cmd to be a
    path (D.2.10); both may now be either.
    """
    found = shutil.which(program)
    if found is None:
        raise CommandFailed(f'"{setting}": program {program!r} not found or not executable')
    return found


def check_pid_file(pid_file: Path | None) -> None:
    """Refuse to start while the PID file names a live subprocess; clear stale files."""
    if pid_file is None or not pid_file.exists():
        return
    text = pid_file.read_text().strip()
    if not text:
        raise CommandFailed(f"Empty PID file {pid_file}, refusing to start a subprocess")
    try:
        process = psutil.Process(int(text.split()[0]))
        started_after_file = process.create_time() > pid_file.stat().st_mtime + PID_REUSE_TOLERANCE_SECONDS
    except (ValueError, psutil.NoSuchProcess):
        started_after_file = True
    else:
        if not started_after_file:
            raise CommandFailed(f"Subprocess from {pid_file} is still running: pid={process.pid} {process.name()}")
    pid_file.unlink(missing_ok=True)


@contextlib.contextmanager
def holding_pid_file(pid_file: Path | None, pid: int) -> Iterator[None]:
    """Write ``pid`` to the PID file (exclusive create) for the subprocess's lifetime."""
    if pid_file is None:
        yield
        return
    try:
        with pid_file.open("x") as outfile:
            outfile.write(f"{pid}\n")
    except FileExistsError as ex:
        raise CommandFailed(f"PID file {pid_file} appeared while starting pid={pid}: another subprocess runs") from ex
    try:
        yield
    finally:
        pid_file.unlink(missing_ok=True)


def _signal_group(pid: int, sig: signal.Signals, descendants: list[psutil.Process]) -> None:
    """Send ``sig`` to the process group led by ``pid`` and to known descendants."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.send_signal(sig)


def _group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of process group ``pgid`` (orphans the main process left behind)."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
    return members


async def _until_dead(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until every process is dead (gone or a zombie for init to reap):
    SIGKILL is delivered asynchronously, and "no process outlives its command"
    must hold when the command returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        if not alive:
            return
        procs = alive
        await asyncio.sleep(0.01)


def _descendants(pid: int) -> list[psutil.Process]:
    """Children that may have left the process group (setsid), found while the leader lives."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


async def terminate(process: asyncio.subprocess.Process, ctx: CommandContext, grace_seconds: float) -> None:
    """SIGTERM the process and its group, SIGKILL whatever is left after the grace period.

    Returns once the main process is reaped and its output pipe is closed,
    so nothing of the subprocess is left when the command ends.
    """
    descendants = _descendants(process.pid)
    if process.returncode is None:
        await ctx.log(f"TERMinating subprocess pid={process.pid}")
    _signal_group(process.pid, signal.SIGTERM, descendants)
    try:
        async with asyncio.timeout(grace_seconds):
            await process.wait()
    except TimeoutError:
        await ctx.log(f"Subprocess pid={process.pid} ignored SIGTERM for {grace_seconds:g} s, killing it")
    finally:
        _signal_group(process.pid, signal.SIGKILL, descendants)
    await process.wait()
    await _discard_output(process, grace_seconds)
    # Orphaned descendants are reaped by init, not by us: wait until they are really gone.
    await asyncio.to_thread(psutil.wait_procs, descendants, timeout=grace_seconds)


async def _discard_output(process: asyncio.subprocess.Process, timeout: float) -> None:
    """Read the pipe to EOF so asyncio closes it (an unread pipe outlives the event loop)."""
    assert process.stdout is not None
    with contextlib.suppress(TimeoutError, ValueError):
        async with asyncio.timeout(timeout):
            await process.stdout.read()


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip()


async def _read_output(
    process: asyncio.subprocess.Process,
    ctx: CommandContext,
    on_line: LineHandler | None,
    tail: collections.deque[str],
    timeout: float,
) -> None:
    """Log each output line and hand it to ``on_line`` until EOF.

    Lines end at ``\n`` or ``\r``: FFmpeg redraws its progress with ``\r``
    only, and must not look silent (or be buffered whole) for a long encode.
    Blank lines are skipped.
    """
    assert process.stdout is not None
    pending = b""
    while True:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a
        # cancellation that arrives as the read completes, and with output
        # streaming fast that is often: an aborted render then ran to its end.
        try:
            async with asyncio.timeout(timeout):
                chunk = await process.stdout.read(READ_CHUNK_BYTES)
        except TimeoutError as ex:
            raise CommandFailed(f"Command pid={process.pid} timed out after {timeout:g} seconds without output") from ex
        *complete, pending = LINE_END.split(pending + chunk)
        if not chunk or len(pending) > MAX_LINE_BYTES:
            complete.append(pending)
            pending = b""
        for raw in complete:
            line = _decode(raw)
            if not line:
                continue
            tail.append(line)
            await ctx.log(f"pid={process.pid} > {line}")
            if on_line is not None:
                await on_line(line)
        if not chunk:
            return


async def _await_exit(
    process: asyncio.subprocess.Process,
    ctx: CommandContext,
    on_line: LineHandler | None,
    tail: collections.deque[str],
    timeout: float,
) -> int:
    """Read the output while waiting for the process; return its exit code.

    When the main process exits first, background children it left in its
    group are killed: they must not outlive the command, and they would keep
    the output pipe open for ever.
    """
    reader = asyncio.create_task(_read_output(process, ctx, on_line, tail, timeout))
    exited = asyncio.create_task(_main_process_exit(process))
    try:
        done, _ = await asyncio.wait({reader, exited}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done:
            reader.result()
        await exited
        leftovers = _group_members(process.pid)
        _signal_group(process.pid, signal.SIGKILL, leftovers)
        await _until_dead(leftovers, EXIT_POLL_SECONDS * 100)
        await reader
        return await process.wait()
    finally:
        for task in (reader, exited):
            task.cancel()
        # Let the reader finish its cancellation before anyone else reads the pipe.
        await asyncio.gather(reader, exited, return_exceptions=True)


async def _main_process_exit(process: asyncio.subprocess.Process) -> int:
    """The main process's exit code, as soon as it has exited."""
    while process.returncode is None:
        await asyncio.sleep(EXIT_POLL_SECONDS)
    return process.returncode


def _signal_name(number: int) -> str:
    """SIGTERM for 15; real-time signals have no name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _exit_failure(
    args: Sequence[str], pid: int, returncode: int, tail: collections.deque[str], oom_evidence: str | None,
) -> CommandFailed:
    if oom_evidence:
        reason = f"Command {shlex.join(args)} (pid={pid}) {oom.OOM_KILLED_MESSAGE}"
    elif returncode < 0:
        reason = f"Command {shlex.join(args)} (pid={pid}) terminated by signal {_signal_name(-returncode)} ({-returncode})"
    else:
        reason = f"Command {shlex.join(args)} (pid={pid}) failed with status {returncode}"
    if tail:
        reason += "; last output:\n" + "\n".join(tail)
    return CommandFailed(reason)


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when the worker dies.

    Cancellation cleans up when the worker can act; this covers the case it
    cannot (kill -9, OOM killer), so a render never outlives a dead worker.
    A no-op where prctl is unavailable.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def prepare_child(oom_score_adj: int) -> None:
    """In the child, before exec: die with the worker, and be the OOM killer's first choice."""
    die_with_parent()
    oom.set_own_score_adj(oom_score_adj)


async def _check_oom_score(pid: int, ctx: CommandContext, wanted: int) -> None:
    """Warn (worker log and task log) when the subprocess did not get the configured oom_score_adj."""
    if wanted and not oom.supported():
        oom.log_unsupported_once()
        return
    warning = oom.score_adj_warning(pid, wanted)
    if warning:
        log.warning(warning)
        await ctx.log(warning)


async def _spawn(args: Sequence[str], ctx: CommandContext, config: CommandConfig) -> asyncio.subprocess.Process:
    """Start the subprocess in its own session; a cancellation meanwhile still stops it.

    The child runs from the fork on, before ``create_subprocess_exec`` hands
    back its process. Cancelled in between (a task aborted as Blender
    starts, on a busy machine), asyncio kills only that child and then waits
    for its output pipe to close, which a child of its own (a shell's
    background job) holds for as long as it runs. So the start is shielded,
    and a cancellation waits for it and terminates the whole process group
    before passing on.
    """
    starting = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=subprocess_environment(),
        start_new_session=True,
        preexec_fn=functools.partial(prepare_child, config.oom_score_adj),
    ))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(OSError):
            process = await _uncancellable(starting)
            await _uncancellable(asyncio.ensure_future(terminate(process, ctx, config.terminate_grace_seconds)))
        raise


async def _uncancellable(future: asyncio.Future[T]) -> T:
    """Wait for ``future`` to finish even if the waiting task is cancelled again meanwhile."""
    while True:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.done():
                return future.result()


async def run_subprocess(
    args: Sequence[str],
    ctx: CommandContext,
    config: CommandConfig,
    on_line: LineHandler | None = None,
) -> None:
    """Run ``args`` (no shell) to completion; raise CommandFailed unless it exits 0."""
    check_pid_file(config.subprocess_pid_file)
    await ctx.log(f"Executing {shlex.join(args)}")
    oom_watch = oom.OomWatch.start()
    try:
        process = await _spawn(args, ctx, config)
    except OSError as ex:
        raise CommandFailed(f"Cannot execute {shlex.join(args)}: {ex}") from ex

    tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
    try:
        with holding_pid_file(config.subprocess_pid_file, process.pid):
            await _check_oom_score(process.pid, ctx, config.oom_score_adj)
            returncode = await _await_exit(process, ctx, on_line, tail, config.output_timeout_seconds)
    except BaseException:
        await terminate(process, ctx, config.terminate_grace_seconds)
        raise

    oom_evidence = oom_watch.evidence(returncode) if oom_watch else None
    await ctx.log(_exit_description(process.pid, returncode, oom_evidence))
    if returncode != 0:
        raise _exit_failure(args, process.pid, returncode, tail, oom_evidence)


def _exit_description(pid: int, returncode: int, oom_evidence: str | None) -> str:
    if oom_evidence:
        return f"Process pid={pid} {oom.OOM_KILLED_MESSAGE} (SIGKILL by the kernel's OOM killer: {oom_evidence})"
    if returncode < 0:
        return f"Process pid={pid} terminated due to signal {_signal_name(-returncode)} ({-returncode})"
    return f"Process pid={pid} exited with status code {returncode}"
