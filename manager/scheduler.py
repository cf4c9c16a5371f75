"""Choosing a task for a worker (reference A.5.2, A.5.3), atomically across processes.

Several API processes may serve workers from the same database. FerretDB's
findAndModify is not atomic, so a task is claimed by inserting ``{_id: task
id}`` into ``task_claims``: exactly one insert can win, on FerretDB and on
MongoDB alike. No global lock, no ``$lookup``: parents are joined in Python.

On FerretDB a sorted query decodes every matching document (about 2 s for
5,000 queued tasks), far too slow for each ``/task`` call. So each process
keeps the schedulable tasks in preference order in memory
(``CandidateCache``) and re-reads them only when some process signals that
tasks became schedulable (``sync_requests.mark_schedulable_changed``). Every
candidate is re-read by ``_id`` (cheap on both stores) before and after its
claim, so a stale cache can cost a retry but never a wrong assignment.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Iterator

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from flamenco_manager import assignment, blocklist, recheck, statuses, sync_requests
from flamenco_manager import db as dbmod
from flamenco_manager.context import ManagerContext
from flamenco_manager.defaults import TASK_PICK_ATTEMPTS

log = logging.getLogger(__name__)

# Order of preference: job priority, then task priority (higher first), then age.
TASK_ORDER = [("job_priority", -1), ("priority", -1), ("_id", 1)]
# What the cache keeps of each schedulable task.
CANDIDATE_FIELDS = {"_id": 1, "job": 1, "task_type": 1, "parents": 1, "failed_by_workers": 1,
                    "job_priority": 1, "priority": 1}


class NoTaskTypes(Exception):
    """The worker supports no task types at all (answered with 406)."""


class CandidateCache:
    """Schedulable tasks of one database, in preference order, for this process."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.loaded = False
        self.entries: list[dict] = []
        self.lock = threading.Lock()

    def current(self, ctx: ManagerContext) -> tuple[str | None, list[dict]]:
        """The candidates; a change signalled since the last read starts a re-read.

        Only the very first read is waited for; later re-reads run in a
        background thread while requests go on with the previous list, so no
        worker call waits for a full scan.
        """
        token = sync_requests.schedulable_token(ctx)
        if not self.loaded:
            with self.lock:
                if not self.loaded:
                    self._load(ctx, token)
        elif token != self.token and self.lock.acquire(blocking=False):
            threading.Thread(target=self._reload_and_release, args=(ctx, token), daemon=True).start()
        return self.token, list(self.entries)

    def warm(self, ctx: ManagerContext) -> None:
        """Load at start-up (in a thread of its own); a failure only means the first call loads."""
        try:
            self.current(ctx)
        except Exception as ex:  # noqa: BLE001 - nothing depends on the warm-up
            log.warning("could not pre-load the schedulable tasks: %s", ex)

    def _load(self, ctx: ManagerContext, token: str | None) -> None:
        self.entries = list(ctx.db[dbmod.TASKS].find(
            {"status": {"$in": list(statuses.SCHEDULABLE)}}, CANDIDATE_FIELDS).sort(TASK_ORDER))
        self.token, self.loaded = token, True

    def _reload_and_release(self, ctx: ManagerContext, token: str | None) -> None:
        try:
            self._load(ctx, token)
        finally:
            self.lock.release()

    def newer_than(self, ctx: ManagerContext, seen_token: str | None) -> list[dict] | None:
        """Current candidates if they differ from the ``seen_token`` snapshot (waiting for a re-read), else None."""
        token = sync_requests.schedulable_token(ctx)
        if token == seen_token:
            return None
        with self.lock:
            if self.token != token:
                self._load(ctx, token)
            return list(self.entries)

    def drop(self, task_id: ObjectId) -> None:
        """Forget a task that was claimed or is no longer schedulable."""
        self.entries = [e for e in self.entries if e["_id"] != task_id]


_caches: dict[str, CandidateCache] = {}
_caches_lock = threading.Lock()


def candidate_cache(ctx: ManagerContext) -> CandidateCache:
    with _caches_lock:
        return _caches.setdefault(ctx.db.name, CandidateCache())


def claim_next_task(ctx: ManagerContext, worker: dict) -> dict | None:
    """The task this worker should run now, already assigned to it; None if there is none.

    A worker that already has an active task gets it back (it crashed or lost
    the reply), so a task is never orphaned by a lost response. A picked task
    is re-checked with the Server first (``recheck``); when it changed there,
    the pick is repeated, up to ``TASK_PICK_ATTEMPTS`` times. If every pick
    had changed the cache is evidently stale: a download is kicked at once
    and the worker asks again later.
    """
    task_types = worker.get("supported_task_types") or []
    if not task_types:
        raise NoTaskTypes()
    own = _own_active_task(ctx, worker)
    if own is not None:
        return own
    for _attempt in range(TASK_PICK_ATTEMPTS):
        task = _claim_candidate(ctx, worker, task_types)
        if task is None:
            return None
        if recheck.task_unchanged(ctx, task):
            assignment.assign(ctx, worker, task)
            return task
    sync_requests.kick_download(ctx)
    return None


def _claim_candidate(ctx: ManagerContext, worker: dict, task_types: list[str]) -> dict | None:
    """Claim the first eligible cached candidate (not yet assigned); None if there is none."""
    cache = candidate_cache(ctx)
    seen_token, candidates = cache.current(ctx)
    task = _claim_first(ctx, worker, task_types, cache, candidates)
    if task is None and (newer := cache.newer_than(ctx, seen_token)) is not None:
        # Nothing in the old list: the tasks someone signalled since may fit.
        task = _claim_first(ctx, worker, task_types, cache, newer)
    return task


def _claim_first(ctx: ManagerContext, worker: dict, task_types: list[str], cache: CandidateCache,
                 candidates: list[dict]) -> dict | None:
    """Claim the first eligible candidate."""
    for candidate in _eligible(ctx, worker, task_types, candidates):
        task = _claim(ctx, worker, candidate["_id"])
        cache.drop(candidate["_id"])
        if task is not None:
            return task
    return None


def _own_active_task(ctx: ManagerContext, worker: dict) -> dict | None:
    """The worker's running task, found through its claims (a small collection)."""
    for claim in ctx.db[dbmod.CLAIMS].find({"worker_id": worker["_id"]}):
        task = ctx.db[dbmod.TASKS].find_one({"_id": claim["_id"]})
        if task and task.get("status") == statuses.ACTIVE and task.get("worker_id") == worker["_id"]:
            return task
    return None


def _eligible(ctx: ManagerContext, worker: dict, task_types: list[str], candidates: list[dict]) -> Iterator[dict]:
    """Candidates of the worker's types, not blocklisted, not failed by it, parents completed."""
    blocked = {(job, t) for job, types in blocklist.blocked_types_by_job(ctx, worker["_id"]).items() for t in types}
    parent_status: dict[ObjectId, str] = {}
    for task in candidates:
        if task.get("task_type") not in task_types or (task.get("job"), task.get("task_type")) in blocked:
            continue
        if _failed_by(task, worker["_id"]):
            continue
        if _parents_completed(ctx, task.get("parents") or [], parent_status):
            yield task


def _failed_by(task: dict, worker_id: ObjectId) -> bool:
    return any(f.get("id") == worker_id for f in task.get("failed_by_workers") or [])


def _parents_completed(ctx: ManagerContext, parents: list[ObjectId], known: dict[ObjectId, str]) -> bool:
    """Whether every parent counts as completed; looks each up by ``_id`` (cheap), memoised.

    A parent the Manager has never seen counts as completed: the Server only
    sends tasks that still have to run, so a finished parent is never sent.
    A parent the Manager knows counts only when its status is ``completed``.
    """
    for parent in parents:
        if parent not in known:
            doc = (ctx.db[dbmod.TASKS].find_one({"_id": parent}, {"status": 1})
                   or ctx.db[dbmod.TASKS_DONE].find_one({"_id": parent}, {"status": 1}))
            known[parent] = doc.get("status", "") if doc else statuses.COMPLETED
        if known[parent] != statuses.COMPLETED:
            return False
    return True


def _claim(ctx: ManagerContext, worker: dict, task_id: ObjectId) -> dict | None:
    """Win the task's claim and check it is still schedulable for this worker; None when not."""
    current = ctx.db[dbmod.TASKS].find_one({"_id": task_id}, {"status": 1})
    if current is None or current.get("status") not in statuses.SCHEDULABLE:
        return None
    try:
        ctx.db[dbmod.CLAIMS].insert_one({"_id": task_id, "worker_id": worker["_id"], "at": ctx.now()})
    except DuplicateKeyError:
        return None
    task = ctx.db[dbmod.TASKS].find_one({"_id": task_id})
    if task is None or task.get("status") not in statuses.SCHEDULABLE or _failed_by(task, worker["_id"]):
        ctx.db[dbmod.CLAIMS].delete_one({"_id": task_id, "worker_id": worker["_id"]})
        return None
    return task


def release_stale_claims(ctx: ManagerContext) -> int:
    """Drop claims older than ``stale_claim_age`` whose task is not running.

    Such a claim is left by a process that died between claiming and assigning.
    """
    cutoff = ctx.now() - dt.timedelta(seconds=ctx.config.stale_claim_age)
    stale = []
    for claim in ctx.db[dbmod.CLAIMS].find({"at": {"$lt": cutoff}}):
        task = ctx.db[dbmod.TASKS].find_one({"_id": claim["_id"]}, {"status": 1})
        if task is None or task.get("status") not in (statuses.ACTIVE, statuses.CANCEL_REQUESTED):
            stale.append(claim["_id"])
    if not stale:
        return 0
    released = ctx.db[dbmod.CLAIMS].delete_many({"_id": {"$in": stale}}).deleted_count
    sync_requests.mark_schedulable_changed(ctx)
    return released
