"""The depsgraph pull: which tasks a Manager gets, and claiming them (reference §6.3).

Queries do not grow with the number of tasks: the Manager's runnable jobs,
its tasks that are not queued, its queued tasks (one query per job priority,
highest first), and per job with queued tasks one ``update_many`` that claims
them (plus the job's task-count update, ``flamenco.task_counts``). The claim
keeps ``_updated``, so the next incremental pull does not resend what was
just delivered.

Tasks are selected by their jobs (:func:`runnable_tasks`), not also by
Manager: the jobs are the Manager's, a job's Manager never changes and its
tasks are compiled with it. flamenco.store: index-choice; with ``manager``
in the filter, the local store read every task the Manager ever ran, on
every pull (an idle pull after 50,000 finished tasks: 800-850 ms over HTTP,
5-7 ms without; bench/RESULTS.md, Server ingestion).

Paging (issue 12): one answer claims at most ``page`` queued tasks. When more
wait, the answer says so (``Depsgraph.more``) and the jobs that may still hold
queued tasks get an ``_updated`` newer than the answer's ``last_updated``:
the next incremental pull then selects their queued tasks again (see
:func:`queued_query`), while what this answer delivered keeps its older
``_updated`` and is not resent. Tasks that are not queued are not paged: they
cost a read, not a write, and a clean slate must list all of them.
"""
from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, defaults, eventbus, status
from flamenco.store.collections import JOBS, TASKS
from flamenco_protocol import requirements
from flamenco_protocol.statuses import TaskStatus

QUEUED = TaskStatus.QUEUED
# What a claim changed, as its live events carry it.
CLAIM_EVENT_FIELDS = ("_id", "project", "job", "status")
# A job touched to carry the rest of its queued tasks to the next pull is
# this much newer than the answer's last_updated (BSON keeps milliseconds).
TOUCH_MARGIN = datetime.timedelta(milliseconds=1)


@dataclasses.dataclass
class Depsgraph:
    """What to answer: ``tasks`` is None when the Manager has no runnable job (204)."""

    tasks: list[dict] | None
    last_updated: datetime.datetime | None = None
    more: bool = False  # queued tasks beyond this answer's page wait for the next pull


def runnable_tasks(jobs: list[dict], task_status: Any) -> dict:
    """The filter of these jobs' tasks whose status matches ``task_status`` (module docstring: no ``manager``)."""
    return {"job": {"$in": [job["_id"] for job in jobs]}, "status": task_status}


def not_queued_query(jobs: list[dict], since: datetime.datetime | None) -> dict:
    """The Manager's tasks that are not queued: clean slate, all of them in
    DEPSGRAPH_CLEAN_SLATE_TASK_STATUSES; incremental, the claimed and
    soft-failed ones changed after ``since`` (cancellations travel through the
    task-update-batch answer)."""
    statuses = status.DEPSGRAPH_CLEAN_SLATE_TASK_STATUSES if since is None \
        else status.DEPSGRAPH_MODIFIED_SINCE_TASK_STATUSES
    query = runnable_tasks(jobs, {"$in": sorted(s for s in statuses if s != QUEUED)})
    if since is not None:
        query["_updated"] = {"$gt": since}  # at the top level, so the store can select by it
    return query


def queued_query(jobs: list[dict], since: datetime.datetime | None) -> dict:
    """The queued tasks of these jobs: clean slate, all of them; incremental,
    those changed after ``since`` and all of those of jobs changed after it.

    Why the jobs: a job's tasks carry the time construction *started*, which
    can be before ``since`` when another task changed while the job was being
    built (a big job is built by Celery over seconds or minutes). Without
    this the Manager would never learn about them incrementally. The job's
    ``_updated`` is written when it becomes runnable (and when a paged answer
    left queued tasks of it behind), so it is newer than ``since`` exactly
    when the Manager has not received all of them yet.
    """
    query = runnable_tasks(jobs, QUEUED)
    if since is not None:
        changed_jobs = [job["_id"] for job in jobs if job.get("_updated") and job["_updated"] > since]
        if changed_jobs:
            query["$or"] = [{"_updated": {"$gt": since}}, {"job": {"$in": changed_jobs}}]
        else:  # the usual pull: at the top level, so the store can select by it
            query["_updated"] = {"$gt": since}
    return query


def _by_priority(jobs: list[dict]) -> list[list[dict]]:
    """The jobs grouped by priority, highest first: a page claims the most urgent work."""
    groups: dict[Any, list[dict]] = defaultdict(list)
    for job in jobs:
        priority = job.get("priority")
        groups[priority if isinstance(priority, (int, float)) else 0].append(job)
    return [groups[p] for p in sorted(groups, reverse=True)]


def add_requirements(tasks: list[dict], jobs: list[dict]) -> None:
    """Each task carries its job's requirements (issue 15), so the Manager's scheduler can match
    workers without asking for jobs. Added here rather than stored in every task: a job's
    requirements live in one place, and Flamenco 2 Managers ignore the unknown field."""
    by_job = {job["_id"]: requirements.compact(job.get("requirements")) for job in jobs}
    for task in tasks:
        required = by_job.get(task["job"])
        if required:
            task["requirements"] = required


def _read_queued(db: Database, jobs: list[dict], since: datetime.datetime | None,
                 page: int) -> tuple[list[dict], list[ObjectId]]:
    """Up to ``page`` queued tasks, highest job priority first; and the jobs that may hold more."""
    queued: list[dict] = []
    groups = _by_priority(jobs)
    for index, group in enumerate(groups):
        room = page - len(queued)
        # One answer from the store: the default first batch (101) would need getMores.
        found = list(db[TASKS].find(queued_query(group, since), batch_size=room + 1).limit(room + 1))
        if len(found) > room:
            queued.extend(found[:room])
            return queued, [job["_id"] for later in groups[index:] for job in later]
        queued.extend(found)
    return queued, []


def _claim(db: Database, manager_id: ObjectId, queued: list[dict]) -> None:
    """Claim the tasks, and show them to the Manager as claimed.

    Listeners get what the claim changed (the status, with the ids a live
    event names), not the whole tasks: the dashboard re-reads what it shows,
    and publishing 1,000 whole tasks cost the live feed twice as much
    (16-20 ms against 9 ms, 2026-12-04).
    """
    for task in queued:
        task["status"] = TaskStatus.CLAIMED_BY_MANAGER
        task.pop("log_file", None)
    status.mark_tasks_claimed(db, manager_id, [task["_id"] for task in queued],
                              job_of={task["_id"]: task["job"] for task in queued},
                              docs={task["_id"]: {field: task.get(field) for field in CLAIM_EVENT_FIELDS}
                                    for task in queued})


def _carry_over(db: Database, job_ids: list[ObjectId], last_updated: datetime.datetime | None) -> None:
    """Make the next incremental pull select these jobs' queued tasks again (module docstring).

    Announced as a job change, so the dashboard's job rows show the new ``_updated``.
    """
    touched = clock.utcnow()
    if last_updated is not None:
        touched = max(touched, last_updated + TOUCH_MARGIN)
    db[JOBS].update_many({"_id": {"$in": job_ids}}, {"$set": {"_updated": touched}})
    eventbus.emit(db, *(eventbus.job_changed(job_id) for job_id in job_ids))


def pull_depsgraph(db: Database, manager_id: ObjectId, since: datetime.datetime | None,
                   page: int = defaults.DEPSGRAPH_CLAIM_PAGE_TASKS) -> Depsgraph:
    """Find the Manager's tasks and claim up to ``page`` queued ones, in a bounded number of queries.

    The claim and the carry-over are announced together when the pull is done,
    so listeners read the jobs as the pull left them.
    """
    with eventbus.batch(db):
        return _pull(db, manager_id, since, page)


def _pull(db: Database, manager_id: ObjectId, since: datetime.datetime | None, page: int) -> Depsgraph:
    jobs = list(db[JOBS].find(
        {"manager": manager_id, "status": {"$in": sorted(status.DEPSGRAPH_RUNNABLE_JOB_STATUSES)}},
        projection=["_id", "_updated", "requirements", "priority"]))
    if not jobs:
        return Depsgraph(tasks=None)
    tasks = list(db[TASKS].find(not_queued_query(jobs, since)))
    queued, unfinished_jobs = _read_queued(db, jobs, since, page)
    if queued:
        _claim(db, manager_id, queued)
        tasks.extend(queued)
    if not tasks:
        return Depsgraph(tasks=[])
    add_requirements(tasks, jobs)
    # Never move the Manager's marker backwards (tasks of a changed job may be older).
    newest = max((task["_updated"] for task in tasks if task.get("_updated")), default=None)
    last_updated = max(newest, since) if newest and since else newest or since
    if unfinished_jobs:
        _carry_over(db, unfinished_jobs, last_updated)
    return Depsgraph(tasks=tasks, last_updated=last_updated, more=bool(unfinished_jobs))
