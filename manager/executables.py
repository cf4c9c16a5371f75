"""Which programs this manager lets its workers start (issue 13: a job could run any program).

A task's commands name programs in three settings: ``cmd`` of ``exec``,
``blender_cmd`` of the Blender commands and ``ffmpeg_cmd`` of the FFmpeg
ones. After variable expansion, the first word of each must be one of the
worker platform's values of the ``blender`` and ``ffmpeg`` variables (what
``{blender}`` and ``{ffmpeg}`` resolve to) or listed in
``allowed_executables``. With ``restrict_executables: false`` any program is
allowed (Flamenco 2's behaviour). The Server separately refuses such
settings from users without the ``flamenco-run-programs`` capability; this
is the render node's own line of defence, also against a compromised Server.
"""
from __future__ import annotations

import shlex

from flamenco_manager.context import ManagerContext
from flamenco_manager.variables import PROGRAM_VARIABLES

# Settings that name the program a command starts: in every command, and ``cmd`` of ``exec``.
PROGRAM_SETTINGS = ("blender_cmd", "ffmpeg_cmd")
EXEC_COMMAND, EXEC_SETTING = "exec", "cmd"


def disable_autoexec(commands: list[dict]) -> None:
    """Tell the worker not to run a .blend file's own Python (setting ``autoexec``)."""
    for command in commands:
        settings = command.get("settings")
        if isinstance(settings, dict) and "blender_cmd" in settings:
            settings["autoexec"] = False


def allowed(ctx: ManagerContext, platform: str) -> set[str]:
    values = ctx.variables.get("workers", {}).get((platform or "").lower(), {})
    return {values[name] for name in PROGRAM_VARIABLES if values.get(name)} | set(ctx.config.allowed_executables)


def refused_program(ctx: ManagerContext, commands: list[dict], platform: str) -> str | None:
    """Why these (expanded) commands may not run here, or None when they may."""
    if not ctx.config.restrict_executables:
        return None
    permitted = allowed(ctx, platform)
    for command in commands:
        settings = command.get("settings") or {}
        names = [*PROGRAM_SETTINGS, *([EXEC_SETTING] if command.get("name") == EXEC_COMMAND else [])]
        for setting in names:
            value = settings.get(setting)
            if not isinstance(value, str) or not value.strip():
                continue
            try:
                program = shlex.split(value)[0]
            except (ValueError, IndexError):
                return f"{command.get('name')}.{setting} cannot be split into words"
            if program not in permitted:
                return (f"{command.get('name')}.{setting}: program {program!r} is not allowed on this manager "
                        f"(allowed_executables; the blender and ffmpeg variables)")
    return None
