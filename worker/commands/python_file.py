"""create_python_file: write a Python file, e.g. the RNA overrides of a job (reference B.8.4).

Blender commands pick up ``<blendfile>-overrides.py`` next to the .blend file
(see :mod:`flamenco_worker.commands.blender`); the server's RNA-override
operation emits this command to write it.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from flamenco_worker.commands.base import Command, CommandSettingsError, register
from flamenco_worker.commands.settings import Setting


def _write(path: Path, contents: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(contents, encoding="utf-8")


@register
class CreatePythonFileCommand(Command):
    """Create or overwrite a UTF-8 Python file."""

    name = "create_python_file"
    settings_spec = {
        "filepath": Setting(str, required=True, non_empty=True),
        "contents": Setting(str, required=True),
    }

    def check_settings(self) -> None:
        if not self.settings["filepath"].endswith(".py"):
            raise CommandSettingsError("filepath", "must end in .py")

    async def execute(self) -> None:
        path = Path(self.settings["filepath"])
        verb = "Overwriting" if path.exists() else "Creating"
        await self.ctx.log(f"{verb} Python file {path}")
        await self.ctx.log(self.settings["contents"])
        await asyncio.to_thread(_write, path, self.settings["contents"])
