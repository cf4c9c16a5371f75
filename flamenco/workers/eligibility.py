"""Which workers of a job's Manager can run it: the job page's requirements card (issue 15).

A job with requirements (``flamenco_protocol.requirements``) waits on its
Manager until a worker that meets them asks for work. When none of the workers the
Manager reports can, the job would wait silently for ever; the job page says
so instead, naming each requirement and how many workers meet it::

    No worker of manager Studio can run this job: needs tag 'gpu' (2 workers, none tagged 'gpu')

All reported workers count, asleep and offline ones too: the question is
whether the farm has such a machine at all, not whether it is busy.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from pymongo.database import Database

from flamenco.store.collections import MANAGERS
from flamenco.workers import registry
from flamenco_protocol import requirements
from flamenco_protocol.statuses import JobStatus

# Statuses of jobs that will not run again by themselves: nothing to warn about.
SETTLED_JOB_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED, JobStatus.ARCHIVING,
                                  JobStatus.ARCHIVED, JobStatus.CONSTRUCTION_FAILED})


@dataclasses.dataclass(frozen=True)
class RequirementsView:
    """What the job needs, how many of its Manager's workers have it, and the warning when none does."""

    needs: list[str]
    worker_count: int
    able_count: int
    problem: str


def _detail(part: requirements.Part, workers: list[dict[str, Any]]) -> str:
    met = sum(part.met(w.get("tags") or [], w.get("resources")) for w in workers)
    total = len(workers)
    if met:
        return f"{met} of {total} workers"
    detail = f"{total} worker{'' if total == 1 else 's'}, none {part.lacking}"
    unknown = sum(w.get("resources") is None for w in workers) if part.needs_resources else 0
    if unknown:
        detail += f"; {unknown} did not report {'its' if unknown == 1 else 'their'} resources"
    return detail


def problem_text(manager_name: str, parts: list[requirements.Part], workers: list[dict[str, Any]]) -> str:
    """The warning for a job none of these workers can run."""
    lead = f"No worker of manager {manager_name} can run this job"
    if not workers:
        return f"{lead}: the manager has reported no workers"
    return f"{lead}: " + "; ".join(f"needs {part.needs} ({_detail(part, workers)})" for part in parts)


def _manager_name(db: Database, manager_id: Any) -> str:
    manager = db[MANAGERS].find_one({"_id": manager_id}, {"name": 1})
    return manager.get("name", "?") if manager else "?"


def requirements_view(db: Database, job: dict) -> RequirementsView | None:
    """The card's content; None for a job without requirements."""
    parts = requirements.parts(job.get("requirements"))
    if not parts:
        return None
    workers = registry.workers_of(db, [job["manager"]])
    able = sum(requirements.satisfies(job["requirements"], w.get("tags") or [], w.get("resources"))
               for w in workers)
    problem = ""
    if not able and job.get("status") not in SETTLED_JOB_STATUSES:
        problem = problem_text(_manager_name(db, job.get("manager")), parts, workers)
    return RequirementsView(needs=[p.needs for p in parts], worker_count=len(workers), able_count=able,
                            problem=problem)
