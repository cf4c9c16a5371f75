"""File commands: move_out_of_way, move_to_final, copy_file, remove_tree,
remove_file, move_with_counter (reference B.8.4).

The filesystem work runs in a thread (``asyncio.to_thread``) so that a slow
network share does not stall the worker's may-i-run polling and update queue
(D.2.9), and moves use ``shutil.move`` so they work across filesystems
(D.2.11). A missing input is checked when the command runs, not when it is
created: an earlier command of the same task usually makes it.
"""
from __future__ import annotations

import asyncio
import datetime
import os
import re
import shutil
from pathlib import Path

from flamenco_worker.commands.base import Command, CommandFailed, register
from flamenco_worker.commands.settings import Setting

TIMESTAMP_FORMAT = "%Y-%m-%d_%H%M%S"
"""Suffix of a path moved out of the way: its modification time (Flamenco 2's format)."""

COUNTER_DIGITS = 3
"""move_with_counter pads its counter to this width, e.g. ``_007``."""

LEADING_NUMBER = re.compile(r"^[0-9_]+")
"""move_with_counter puts the counter after a leading date-like prefix such as ``2018_12_06``."""


def timestamped_path(path: Path) -> Path:
    """``path`` with its modification time appended, unique in its directory."""
    mtime = datetime.datetime.fromtimestamp(path.lstat().st_mtime)
    return unique_path(path.with_name(f"{path.name}-{mtime:{TIMESTAMP_FORMAT}}"))


def unique_path(path: Path) -> Path:
    """``path`` itself if free, else ``path~N`` with the next free N."""
    if not path.exists():
        return path
    pattern = re.compile(rf"^{re.escape(path.name)}~(\d+)$")
    numbers = [int(m.group(1)) for p in path.parent.iterdir() if (m := pattern.match(p.name))]
    return path.with_name(f"{path.name}~{max(numbers, default=0) + 1}")


def move_aside(path: Path) -> Path:
    """Rename ``path`` to its timestamped name; return the new path."""
    target = timestamped_path(path)
    shutil.move(path, target)
    return target


def _missing(path: Path) -> bool:
    """True when nothing, not even a dangling symlink, is at ``path``."""
    return not path.exists() and not path.is_symlink()


@register
class MoveOutOfWayCommand(Command):
    """Move an existing file or directory aside, so a new render does not mix with it."""

    name = "move_out_of_way"
    settings_spec = {"src": Setting(str, required=True, non_empty=True)}

    async def execute(self) -> None:
        src = Path(self.settings["src"])
        if _missing(src):
            await self.ctx.log(f"Render output path {src} does not exist, not moving out of the way")
            return
        target = await asyncio.to_thread(move_aside, src)
        await self.ctx.log(f"Moved {src} out of the way to {target}")


def _move_to_final(src: Path, dest: Path) -> Path | None:
    """Move ``dest`` aside if it exists, then move ``src`` into its place."""
    moved_aside = move_aside(dest) if not _missing(dest) else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(src, dest)
    return moved_aside


@register
class MoveToFinalCommand(Command):
    """Move a finished render into its final place, keeping the previous one aside.

    A missing ``src`` succeeds, as in Flamenco 2: a task re-run after the move
    already happened must not fail. It is logged and shown as the activity.
    """

    name = "move_to_final"
    settings_spec = {
        "src": Setting(str, required=True, non_empty=True),
        "dest": Setting(str, required=True, non_empty=True),
    }

    async def execute(self) -> None:
        src, dest = Path(self.settings["src"]), Path(self.settings["dest"])
        if _missing(src):
            message = f"move_to_final: src {src} does not exist, nothing to move"
            await self.ctx.log(message)
            await self.ctx.activity(message)
            return
        moved_aside = await asyncio.to_thread(_move_to_final, src, dest)
        if moved_aside is not None:
            await self.ctx.log(f"Moved existing {dest} out of the way to {moved_aside}")
        await self.ctx.log(f"Moved {src} to {dest}")


@register
class CopyFileCommand(Command):
    """Copy one file (e.g. to publish the latest progressive render)."""

    name = "copy_file"
    settings_spec = {
        "src": Setting(str, required=True, non_empty=True),
        "dest": Setting(str, required=True, non_empty=True),
    }

    async def execute(self) -> None:
        src, dest = self.existing("src"), Path(self.settings["dest"])
        if not src.is_file():
            raise CommandFailed(f'copy_file: "src" {src} is not a file')
        mode_error = await asyncio.to_thread(self._copy, src, dest)
        if mode_error:
            await self.ctx.log(f"Copied {src} to {dest}, but not its mode: {mode_error}")
        else:
            await self.ctx.log(f"Copied {src} to {dest}")
        await self.ctx.output_produced(str(dest))

    @staticmethod
    def _copy(src: Path, dest: Path) -> str | None:
        """Copy contents then mode; return the mode error, which is only worth a log line."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        shutil.copyfile(src, dest)
        try:
            shutil.copymode(src, dest)
        except OSError as ex:
            return str(ex)
        return None


def _refuse_root(path: Path) -> None:
    """A filesystem root is never a render output; refuse to delete one."""
    if path.resolve().parent == path.resolve():
        raise CommandFailed(f'refusing to remove the filesystem root "{path}"')


@register
class RemoveTreeCommand(Command):
    """Delete a directory with everything in it, or a single file."""

    name = "remove_tree"
    settings_spec = {"path": Setting(str, required=True, non_empty=True)}

    async def execute(self) -> None:
        path = Path(self.settings["path"])
        if _missing(path):
            await self.ctx.log(f"Path {path} does not exist, nothing to remove")
            return
        _refuse_root(path)
        if path.is_dir() and not path.is_symlink():
            await asyncio.to_thread(shutil.rmtree, path)
        else:
            await asyncio.to_thread(path.unlink)
        await self.ctx.log(f"Removed {path}")


@register
class RemoveFileCommand(Command):
    """Delete a single file; a directory is refused so a wrong path cannot wipe a tree."""

    name = "remove_file"
    settings_spec = {"path": Setting(str, required=True, non_empty=True)}

    async def execute(self) -> None:
        path = Path(self.settings["path"])
        if _missing(path):
            await self.ctx.log(f"Path {path} does not exist, nothing to remove")
            return
        if path.is_dir() and not path.is_symlink():
            raise CommandFailed(f'remove_file: "path" {path} is a directory, use remove_tree instead')
        await asyncio.to_thread(path.unlink)
        await self.ctx.log(f"Removed {path}")


def counted_path(dest: Path) -> Path:
    """``dest`` with the next free counter: ``2018_12_06_001-spring.mkv`` or ``spring_001.mkv``."""
    match = LEADING_NUMBER.match(dest.name)
    if match:
        head, tail = match.group(0).rstrip("_"), dest.name[match.end():]
    else:
        head, tail = dest.stem, dest.suffix
    pattern = re.compile(rf"^{re.escape(head)}_(\d+){re.escape(tail)}$")
    existing = os.listdir(dest.parent) if dest.parent.is_dir() else []
    numbers = [int(m.group(1)) for name in existing if (m := pattern.match(name))]
    return dest.with_name(f"{head}_{max(numbers, default=0) + 1:0{COUNTER_DIGITS}d}{tail}")


def _move_with_counter(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    target = counted_path(dest)
    shutil.move(src, target)
    return target


@register
class MoveWithCounterCommand(Command):
    """Move a file to a name with a uniqueness counter (e.g. successive video renders)."""

    name = "move_with_counter"
    settings_spec = {
        "src": Setting(str, required=True, non_empty=True),
        "dest": Setting(str, required=True, non_empty=True),
    }

    async def execute(self) -> None:
        src, dest = self.existing("src"), Path(self.settings["dest"])
        target = await asyncio.to_thread(_move_with_counter, src, dest)
        await self.ctx.log(f"Moved {src} to {target}")
        await self.ctx.output_produced(str(target))
