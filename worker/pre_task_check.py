"""Checks before fetching a task: are the shared storage paths readable and writable? (Flamenco 2.2)

A render node whose network share is gone would fail every task it takes,
each failure counting against the job. With ``pre_task_check_read`` /
``pre_task_check_write`` configured the worker checks first, and on failure
goes to the ``error`` state instead of fetching.

Unlike Flamenco 2, a writable-file check does not append a character to the
file: opening it for appending proves the permission without changing it.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path


class PreTaskCheckFailed(Exception):
    """A configured path is not usable; the message names it."""


def check_readable(path: Path) -> None:
    if not path.exists():
        raise PreTaskCheckFailed(f"{path} does not exist")
    if path.is_dir():
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    entry.stat()  # a share can list names yet refuse their metadata
                    break
        except PermissionError as ex:
            raise PreTaskCheckFailed(f"{path} is not readable: {ex}") from None
    elif not os.access(path, os.R_OK):
        raise PreTaskCheckFailed(f"{path} is not readable")


def check_writable(path: Path) -> None:
    try:
        if path.is_dir():
            with tempfile.TemporaryFile(dir=path, prefix=".flamenco-pre-task-check-"):
                pass
        else:
            existed = path.exists()
            with path.open("a"):
                pass
            if not existed:
                path.unlink()
    except OSError as ex:
        raise PreTaskCheckFailed(f"{path} is not writable: {ex}") from None


def _check_all(readable: tuple[Path, ...], writable: tuple[Path, ...]) -> None:
    for path in readable:
        check_readable(path)
    for path in writable:
        check_writable(path)


async def run_checks(readable: tuple[Path, ...], writable: tuple[Path, ...]) -> None:
    """Check every path off the event loop (network filesystems can block); raise PreTaskCheckFailed."""
    if readable or writable:
        await asyncio.to_thread(_check_all, readable, writable)
