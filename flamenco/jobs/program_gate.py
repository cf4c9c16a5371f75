"""Who may choose the programs a job runs on the render nodes (issue 13).

A job's settings can name what its tasks start: an ``exec-command`` job runs
a shell command, ``blender_cmd``/``ffmpeg_cmd`` name the executable a worker
starts, and ``rna_overrides`` is Python that Blender runs before rendering.
Only callers with ``flamenco-run-programs`` (role ``flamenco-programmer``;
global admins have every capability) may submit those. Everyone else may use
the Blender job types with the Manager's own executables (the variables
``{blender}`` and ``{ffmpeg}``, which the Manager's configuration resolves).

:func:`programs_in_job` is the rule (pure); :func:`check_may_run_programs`
raises :class:`ProgramsRefused` and :func:`require_may_run_programs` answers
403 naming the fields. Every path that stores settings or compiles them calls
one of the two: job POST (``hooks.check_submission``), the PATCH operations
``construct``, ``recreate`` and ``rna-overrides``, and the dashboard's
Recreate. Recreating or constructing checks the job's stored settings too:
whoever starts a compile chooses to run what it runs.
"""
from __future__ import annotations

from typing import Any, Mapping

from flamenco import errors
from flamenco.auth import CurrentUser, roles
from flamenco.job_compilers import commands, exec_command

# Job types whose whole point is to run a command of the submitter's choosing.
JOB_TYPES_RUNNING_PROGRAMS = frozenset({exec_command.NAME})
# Settings naming an executable, and the one value allowed without the capability:
# the Manager variable the compilers use by default.
EXECUTABLE_SETTINGS: Mapping[str, str] = {
    "blender_cmd": commands.BLENDER_VARIABLE,
    "ffmpeg_cmd": commands.FFMPEG_VARIABLE,
}
# Settings holding code that a task runs (Python run by Blender).
SCRIPT_SETTINGS = ("rna_overrides",)

_NEEDS = f"needs the {roles.CAP_RUN_PROGRAMS} capability (role {roles.ROLE_PROGRAMMER})"


class ProgramsRefused(PermissionError):
    """The caller may not make the render nodes run what ``issues`` names (``{field: reason}``)."""

    def __init__(self, issues: Mapping[str, str]) -> None:
        self.issues = dict(issues)
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in self.issues.items()))


def programs_in_settings(settings: Any, *, prefix: str = "settings.") -> dict[str, str]:
    """``{field: reason}`` for each setting that names a program or script; empty when none does.

    Malformed settings are left to the compilers' validation (a 422).
    """
    if not isinstance(settings, Mapping):
        return {}
    issues: dict[str, str] = {}
    for name, default in EXECUTABLE_SETTINGS.items():
        value = settings.get(name)
        if value is not None and value != default:
            issues[prefix + name] = f"an executable other than {default!r} {_NEEDS}"
    for name in SCRIPT_SETTINGS:
        if settings.get(name):
            issues[prefix + name] = f"Python run by Blender on the render nodes {_NEEDS}"
    return issues


def programs_in_job(job: Mapping[str, Any]) -> dict[str, str]:
    """``{field: reason}`` for the job type and each setting that makes ``job`` run programs of its own."""
    issues: dict[str, str] = {}
    job_type = job.get("job_type")
    if job_type in JOB_TYPES_RUNNING_PROGRAMS:
        issues["job_type"] = f"{job_type!r} jobs run a shell command on the render nodes; this {_NEEDS}"
    issues.update(programs_in_settings(job.get("settings")))
    return issues


def may_run_programs(user: CurrentUser) -> bool:
    return user.has_cap(roles.CAP_RUN_PROGRAMS)


def check_may_run_programs(user: CurrentUser, job: Mapping[str, Any]) -> None:
    """Raise :class:`ProgramsRefused` when ``job`` runs programs of its own and ``user`` may not."""
    if may_run_programs(user):
        return
    issues = programs_in_job(job)
    if issues:
        raise ProgramsRefused(issues)


def check_may_set_rna_overrides(user: CurrentUser, lines: Any) -> None:
    """Like :func:`check_may_run_programs` for PATCH ``rna-overrides`` (the field is ``rna_overrides``)."""
    if may_run_programs(user):
        return
    issues = programs_in_settings({"rna_overrides": lines}, prefix="")
    if issues:
        raise ProgramsRefused(issues)


def require_may_run_programs(user: CurrentUser, job: Mapping[str, Any] | None = None, *,
                             rna_overrides: Any = None) -> None:
    """403 naming the fields when the caller may not run what ``job`` (or the new ``rna_overrides``) would run."""
    try:
        if job is not None:
            check_may_run_programs(user, job)
        if rna_overrides is not None:
            check_may_set_rna_overrides(user, rna_overrides)
    except ProgramsRefused as ex:
        errors.abort(403, f"you may not choose the programs a job runs: {ex}", ex.issues)
