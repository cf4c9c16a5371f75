"""Housekeeping jobs: stale waiting-for-files jobs, orphaned task logs, expired linking keys.

Each is a few bulk queries (``delete_many``, ``distinct``, one ``$in``), never
a query per document: the local store scans the collection for every query
(flamenco.store: scan).
"""
from __future__ import annotations

import datetime
import logging
import re
from pathlib import Path

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock
from flamenco.manager_api import defaults as api_defaults
from flamenco.store.collections import JOBS, MANAGER_LINKING_KEYS, TASK_LOGS, TASKS
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)

# Uploaded log files are named task-<ObjectId>.log.gz (flamenco.manager_api.storage).
TASK_LOG_FILE = re.compile(r"^task-(?P<task>[0-9a-f]{24})\.log\.gz$")


def remove_waiting_for_files(db: Database, max_age: datetime.timedelta,
                             now: datetime.datetime | None = None) -> int:
    """Delete jobs that waited for their files longer than ``max_age`` (they have no tasks)."""
    cutoff = (now or clock.utcnow()) - max_age
    result = db[JOBS].delete_many({"status": JobStatus.WAITING_FOR_FILES, "_updated": {"$lt": cutoff}})
    if result.deleted_count:
        log.info("removed %d jobs that waited for files since before %s", result.deleted_count, cutoff)
    return result.deleted_count


def _existing_task_ids(db: Database, candidates: set[ObjectId]) -> set[ObjectId]:
    if not candidates:
        return set()
    return {t["_id"] for t in db[TASKS].find({"_id": {"$in": sorted(candidates)}}, projection=["_id"])}


def remove_orphan_task_logs(db: Database, storage_root: Path) -> int:
    """Delete log chunks and uploaded log files whose task no longer exists.

    Tasks disappear with recreate or job deletion (reference §14.14). Returns
    how many chunk documents and files were removed.
    """
    chunk_tasks = set(db[TASK_LOGS].distinct("task"))
    orphans = chunk_tasks - _existing_task_ids(db, chunk_tasks)
    removed = db[TASK_LOGS].delete_many({"task": {"$in": sorted(orphans)}}).deleted_count if orphans else 0
    log_root = storage_root / api_defaults.TASK_LOG_DIR
    files = {}
    if log_root.is_dir():
        for path in log_root.glob("job-*/task-*.log.gz"):
            match = TASK_LOG_FILE.match(path.name)
            if match:
                files[ObjectId(match["task"])] = path
    alive = _existing_task_ids(db, set(files))
    for task_id, path in files.items():
        if task_id not in alive:
            path.unlink(missing_ok=True)
            removed += 1
    for job_dir in log_root.glob("job-*") if log_root.is_dir() else ():
        if job_dir.is_dir() and not any(job_dir.iterdir()):
            job_dir.rmdir()
    return removed


def remove_expired_linking_keys(db: Database, now: datetime.datetime | None = None) -> int:
    """Delete linking keys past their 15 minutes (the local store has no TTL indexes,
    flamenco.store: no-ttl)."""
    return db[MANAGER_LINKING_KEYS].delete_many({"remove_after": {"$lt": now or clock.utcnow()}}).deleted_count
