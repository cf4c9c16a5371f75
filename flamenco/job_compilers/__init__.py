"""Job compilers: turn a job document into its task documents (reference §4).

Entry points:

- :func:`validate_job` checks ``job_type`` and the job's settings before the
  job is stored, raising :class:`JobSettingsError` with the field and reason;
- :func:`compile_job` returns the task documents, ``_id``s pre-assigned and
  status ``under-construction``, ready for one ``insert_many``.
  ``flamenco.jobs.construction_runs.run_construction`` does compile, insert and flip in one go.

Both are pure (no database access). One module per job type registers in
:data:`JOB_TYPES`; each has ``parse(job, compiling=...)`` returning its
validated settings and ``compile_tasks(job, settings, tasks, manager)``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import gc
from types import ModuleType
from typing import Any, Callable, Iterator, Mapping

from bson import ObjectId

from flamenco.job_compilers import (blender_render, blender_render_progressive, blender_video_chunks,
                                    exec_command, sleep)
from flamenco.job_compilers.blender import RnaOverridesError, check_rna_overrides, rna_overrides_command
from flamenco.job_compilers.settings import JobSettingsError
from flamenco.job_compilers.tasks import TaskFactory

__all__ = ["JOB_TYPES", "BLENDER_JOB_TYPES", "JobSettingsError", "JobType", "RnaOverridesError", "validate_job",
           "compile_job", "job_type_of", "check_rna_overrides", "rna_overrides_command", "TaskFactory"]


@dataclasses.dataclass(frozen=True)
class JobType:
    """A registered job type: how to validate its settings and how to make its tasks."""

    name: str
    parse: Callable[..., Any]
    compile_tasks: Callable[..., None]
    is_blender: bool  # offers "Edit RNA Overrides" (reference §4.5 job_types())
    # Name of the task a new rna-overrides task depends on (None: no parent), reference §4.8.
    rna_overrides_parent: str | None = None


def _job_type(module: ModuleType, *, is_blender: bool) -> JobType:
    return JobType(name=module.NAME, parse=module.parse, compile_tasks=module.compile_tasks, is_blender=is_blender,
                   rna_overrides_parent=getattr(module, "RNA_OVERRIDES_PARENT", None))


JOB_TYPES: dict[str, JobType] = {
    job_type.name: job_type for job_type in (
        _job_type(sleep, is_blender=False),
        _job_type(exec_command, is_blender=False),
        _job_type(blender_render, is_blender=True),
        _job_type(blender_render_progressive, is_blender=True),
        _job_type(blender_video_chunks, is_blender=True),
    )
}
BLENDER_JOB_TYPES = frozenset(name for name, job_type in JOB_TYPES.items() if job_type.is_blender)


def job_type_of(job: Mapping[str, Any]) -> JobType:
    """The registered job type of ``job``; unknown ones are a settings error (Flamenco 2 gave a 500)."""
    name = job.get("job_type")
    if not isinstance(name, str) or name not in JOB_TYPES:
        raise JobSettingsError("job_type", f"unknown job type {name!r}; known types: {', '.join(sorted(JOB_TYPES))}")
    return JOB_TYPES[name]


def validate_job(job: Mapping[str, Any]) -> None:
    """Raise :class:`JobSettingsError` (``field``, ``reason``) when ``job`` cannot be compiled.

    A Blender job in ``waiting-for-files`` may lack ``settings.filepath``
    until PATCH ``construct`` provides it.
    """
    job_type_of(job).parse(job, compiling=False)


def compile_job(job: Mapping[str, Any], *, manager: Mapping[str, Any] | None = None,
                now: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """The task documents of a stored ``job`` (it needs its ObjectId ``_id``).

    ``manager`` is the job's Manager document: ``blender-render`` adds a video
    task only when its ``worker_task_types`` include ``video-encoding``.
    ``now`` becomes the tasks' ``_created``/``_updated`` (default: UTC now).
    """
    job_type = job_type_of(job)
    if not isinstance(job.get("_id"), ObjectId):
        raise JobSettingsError("_id", "the job must be stored (have an ObjectId) before it is compiled")
    settings = job_type.parse(job, compiling=True)
    tasks = TaskFactory(job, now or datetime.datetime.now(datetime.timezone.utc))
    with _cyclic_gc_paused():
        job_type.compile_tasks(job, settings, tasks, manager)
    return tasks.tasks


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building tasks.

    A 100k-task job allocates millions of dicts and strings (no cycles), and
    each allocation burst makes the collector rescan them all: pausing it
    halves the compile time. Its previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
