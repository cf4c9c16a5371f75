"""The dashboard's listener on the event bus: changed jobs and tasks go out as live updates.

Subscribed at app and Celery start-up (``FlamencoExtension.event_listeners``). One delivery of the
bus (e.g. a Manager's whole update batch) becomes at most one read of the
changed tasks, one of their jobs and one Redis pipeline per kind, whatever the
number of changes.

A task change also refreshes its job's row (its progress and counts moved);
a job change whose rules rewrote tasks tells the pages to re-read that job's
tasks.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from flamenco import events
from flamenco.eventbus import Change

if TYPE_CHECKING:
    from bson import ObjectId
    from pymongo.database import Database

JOBS = "flamenco_jobs"
TASKS = "flamenco_tasks"


def on_changes(db: Database, changes: Sequence[Change]) -> None:
    """Publish the changed tasks, then every job they or the rules changed (each once)."""
    tasks = [c for c in changes if c.kind == "task"]
    jobs = [c for c in changes if c.kind == "job"]
    deleted = {c.doc_id for c in jobs if c.deleted}
    if tasks:
        events.publish_many("task", _task_docs(db, tasks))
    for change in jobs:
        if change.deleted and change.doc is not None:
            events.publish_job_deleted(change.doc)
    rewrote_tasks: dict[ObjectId, bool] = {}
    for change in tasks:
        if change.job_id is not None:
            rewrote_tasks.setdefault(change.job_id, False)
    for change in jobs:
        if not change.deleted:
            rewrote_tasks[change.doc_id] = rewrote_tasks.get(change.doc_id, False) or change.tasks_changed
    for tasks_changed in (True, False):
        job_ids = [job_id for job_id, rewrote in rewrote_tasks.items()
                   if rewrote is tasks_changed and job_id not in deleted]
        if job_ids:
            events.publish_many("job", _read(db, JOBS, job_ids, ("project",)), tasks_changed=tasks_changed)


def _task_docs(db: Database, changes: Iterable[Change]) -> list[Mapping[str, Any]]:
    """The changers' documents where they gave them, one read for the rest."""
    given = {c.doc_id: c.doc for c in changes if c.doc is not None}
    missing = [c.doc_id for c in changes if c.doc is None and c.doc_id not in given]
    return [*given.values(), *_read(db, TASKS, missing, ("project", "job"))]


def _read(db: Database, collection: str, ids: Sequence[ObjectId], extra: tuple[str, ...]) -> list[dict]:
    if not ids:
        return []
    projection = {f: 1 for f in (*extra, *events.EVENT_FIELDS)}
    return list(db[collection].find({"_id": {"$in": list(dict.fromkeys(ids))}}, projection))
