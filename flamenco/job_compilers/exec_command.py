"""``exec-command`` debug job (reference §4.4): a single task running one shell command."""
from __future__ import annotations

import shlex
from typing import Any, Mapping

from flamenco.job_compilers import commands
from flamenco.job_compilers import settings as checks
from flamenco.job_compilers.tasks import TaskFactory

NAME = "exec-command"


def parse(job: Mapping[str, Any], *, compiling: bool) -> str:
    """The command, shell-split and re-quoted to normalise its quoting."""
    cmd = checks.require_string(checks.settings_of(job), "cmd")
    try:
        return shlex.join(shlex.split(cmd))
    except ValueError as ex:
        raise checks.JobSettingsError("settings.cmd", f"cannot be split into arguments: {ex}") from None


def compile_tasks(job: Mapping[str, Any], cmd: str, tasks: TaskFactory,
                  manager: Mapping[str, Any] | None) -> None:
    tasks.add("exec-command", "debug", [commands.exec(cmd=cmd)])
