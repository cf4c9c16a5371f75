"""Choosing a task for a worker (reference A.5.2, A.5.3), atomically across processes.

Several API processes may serve workers from the same database. FerretDB's
findAndModify is not atomic, so a task is claimed by inserting ``{_id: task
id}`` into ``task_claims``: exactly one insert can win, on FerretDB and on
MongoDB alike. No global lock, no ``$lookup``: parents are joined in Python.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterator

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from flamenco_manager import assignment, blocklist
from flamenco_manager import db as dbmod
from flamenco_manager import statuses
from flamenco_manager.context import ManagerContext

# Candidates examined per query; most /task calls claim from the first page.
CANDIDATE_PAGE = 50
# Order of preference: job priority, then task priority (higher first), then age.
TASK_ORDER = [("job_priority", -1), ("priority", -1), ("_id", 1)]
# Only what the selection needs travels over the wire.
CANDIDATE_FIELDS = {"_id": 1, "parents": 1, "failed_by_workers": 1}


class NoTaskTypes(Exception):
    """The worker supports no task types at all (answered with 406)."""


def claim_next_task(ctx: ManagerContext, worker: dict) -> dict | None:
    """The task this worker should run now, already assigned to it; None if there is none.

    A worker that already has an active task gets it back (it crashed or lost
    the reply), so a task is never orphaned by a lost response.
    """
    task_types = worker.get("supported_task_types") or []
    if not task_types:
        raise NoTaskTypes()
    own = ctx.db[dbmod.TASKS].find_one({"status": statuses.ACTIVE, "worker_id": worker["_id"]})
    if own is not None:
        return own
    for candidate in _runnable_candidates(ctx, worker, task_types):
        task = _claim(ctx, worker, candidate["_id"])
        if task is not None:
            assignment.assign(ctx, worker, task)
            return task
    return None


def _runnable_candidates(ctx: ManagerContext, worker: dict, task_types: list[str]) -> Iterator[dict]:
    """Schedulable tasks in preference order whose parents are done and that the worker did not fail."""
    query = {"status": {"$in": list(statuses.SCHEDULABLE)}, "task_type": {"$in": task_types},
             **blocklist.scheduler_filter(blocklist.blocked_types_by_job(ctx, worker["_id"]))}
    skip = 0
    while True:
        page = list(ctx.db[dbmod.TASKS].find(query, CANDIDATE_FIELDS).sort(TASK_ORDER)
                    .skip(skip).limit(CANDIDATE_PAGE))
        if not page:
            return
        done_parents = _completed_parents(ctx, {p for t in page for p in t.get("parents") or []})
        for task in page:
            if any(f.get("id") == worker["_id"] for f in task.get("failed_by_workers") or []):
                continue
            if all(p in done_parents for p in task.get("parents") or []):
                yield task
        skip += CANDIDATE_PAGE


def _completed_parents(ctx: ManagerContext, parent_ids: set[ObjectId]) -> set[ObjectId]:
    """Which of these parents count as completed.

    A parent the Manager has never seen counts as completed: the Server only
    sends tasks that still have to run, so a finished parent is never sent.
    A parent the Manager knows counts only when its status is ``completed``.
    """
    if not parent_ids:
        return set()
    known: dict[ObjectId, str] = {}
    for name in (dbmod.TASKS, dbmod.TASKS_DONE):
        for doc in ctx.db[name].find({"_id": {"$in": list(parent_ids)}}, {"status": 1}):
            known[doc["_id"]] = doc.get("status", "")
    return {p for p in parent_ids if known.get(p, statuses.COMPLETED) == statuses.COMPLETED}


def _claim(ctx: ManagerContext, worker: dict, task_id: ObjectId) -> dict | None:
    """Win the task's claim and check it is still schedulable; None when lost."""
    try:
        ctx.db[dbmod.CLAIMS].insert_one({"_id": task_id, "worker_id": worker["_id"], "at": ctx.now()})
    except DuplicateKeyError:
        return None
    task = ctx.db[dbmod.TASKS].find_one({"_id": task_id})
    if task is None or task.get("status") not in statuses.SCHEDULABLE:
        ctx.db[dbmod.CLAIMS].delete_one({"_id": task_id, "worker_id": worker["_id"]})
        return None
    return task


def release_stale_claims(ctx: ManagerContext) -> int:
    """Drop claims older than ``stale_claim_age`` whose task is not running.

    Such a claim is left by a process that died between claiming and assigning.
    """
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.config.stale_claim_age)
    old = list(ctx.db[dbmod.CLAIMS].find({"at": {"$lt": cutoff}}))
    if not old:
        return 0
    running = {t["_id"] for t in ctx.db[dbmod.TASKS].find(
        {"_id": {"$in": [c["_id"] for c in old]},
         "status": {"$in": [statuses.ACTIVE, statuses.CANCEL_REQUESTED]}}, {"_id": 1})}
    stale = [c["_id"] for c in old if c["_id"] not in running]
    if not stale:
        return 0
    return ctx.db[dbmod.CLAIMS].delete_many({"_id": {"$in": stale}}).deleted_count
