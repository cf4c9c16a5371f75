"""The Manager's own MongoDB database: collections and their indexes.

Works the same on MongoDB and on FerretDB (reference/ferretdb-eve.md §5):
no TTL indexes (expiry is a periodic delete), no transactions, and the only
atomic decision is a unique ``_id`` insert (``task_claims``).
"""
from __future__ import annotations

import pymongo
from pymongo.database import Database

# Collection names (docs/contracts.md, "Manager and worker").
TASKS = "tasks"                  # tasks waiting or running: the scheduler's hot collection
TASKS_DONE = "tasks_done"        # finished tasks, kept for parents and blocklist counts
WORKERS = "workers"
UPDATE_QUEUE = "task_update_queue"
UPDATE_REJECTS = "task_update_rejects"  # updates the Server never acknowledged
BLACKLIST = "worker_blacklist"
SETTINGS = "settings"
CLAIMS = "task_claims"           # {_id: task id}: the unique _id decides who runs a task

# Server-selection timeout: fail a request quickly instead of hanging a worker.
SERVER_SELECTION_TIMEOUT_MS = 5000


def connect(database_url: str) -> Database:
    """A database handle for ``database_url`` (its path names the database)."""
    client = pymongo.MongoClient(database_url, tz_aware=True,
                                 serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS)
    return client.get_default_database("flamanager")


def ensure_indexes(db: Database) -> None:
    """Create the indexes; safe to call from every process at start."""
    db[TASKS].create_index([("status", 1), ("job_priority", -1), ("priority", -1)])
    db[TASKS].create_index([("worker_id", 1)])
    db[TASKS_DONE].create_index([("worker_id", 1), ("job", 1)])
    db[UPDATE_QUEUE].create_index([("queued_at_ns", 1)])
    db[UPDATE_QUEUE].create_index([("task_id", 1)])
    db[BLACKLIST].create_index([("worker_id", 1), ("job_id", 1), ("task_type", 1)], unique=True)
