"""The commands a Flamenco worker runs: echo, sleep, exec, Blender, FFmpeg, files.

The task runner uses :func:`create_command` and :meth:`Command.run`; see
:mod:`flamenco_worker.commands.base` for the contract. Importing this package
registers every command family.
"""
from flamenco_worker.commands.base import (
    Command,
    CommandContext,
    CommandError,
    CommandFailed,
    CommandSettingsError,
    UnknownCommandError,
    command_names,
    create_command,
)
from flamenco_worker.commands.defaults import CommandConfig

# Imported for their @register side effect: one module per command family.
from flamenco_worker.commands import basic, blender, ffmpeg, files, progressive, python_file  # noqa: E402,F401  isort:skip

__all__ = [
    "Command",
    "CommandConfig",
    "CommandContext",
    "CommandError",
    "CommandFailed",
    "CommandSettingsError",
    "UnknownCommandError",
    "command_names",
    "create_command",
]
