"""The worker registry in the store: each Manager's latest report, and what the dashboard shows.

A report replaces all of the Manager's workers in one ``bulk_write`` (one
replace per reported worker, one delete of those no longer reported), so a
worker the Manager forgot disappears too. A notification without
``workers`` (every Flamenco 2 Manager's) leaves the registry alone.
"""
from __future__ import annotations

import datetime
from typing import Iterable

from bson import ObjectId
from pymongo import DeleteMany, ReplaceOne
from pymongo.database import Database

from flamenco import clock
from flamenco.workers import defaults
from flamenco_protocol.statuses import WorkerStatus


def ensure_indexes(db: Database) -> None:
    """Listing and replacing go by Manager."""
    db[defaults.WORKERS].create_index([("manager", 1)])


def replace_reports(db: Database, manager_id: ObjectId, documents: list[dict]) -> None:
    """Make ``documents`` the Manager's whole worker list, in one bulk write."""
    ids = [doc["_id"] for doc in documents]
    operations: list[ReplaceOne | DeleteMany] = [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True)
                                                 for doc in documents]
    operations.append(DeleteMany({"manager": manager_id, "_id": {"$nin": ids}}))
    db[defaults.WORKERS].bulk_write(operations, ordered=True)


def find_worker(db: Database, manager_id: ObjectId, worker_id: str) -> dict | None:
    return db[defaults.WORKERS].find_one({"_id": f"{manager_id}:{worker_id}"})


def workers_of(db: Database, manager_ids: Iterable[ObjectId]) -> list[dict]:
    return list(db[defaults.WORKERS].find({"manager": {"$in": list(manager_ids)}}))


def silence(worker: dict, now: datetime.datetime) -> datetime.timedelta | None:
    """How long the worker has not been heard of, or None if never.

    Measured without comparing the two machines' clocks: how old the last
    contact was when the Manager reported (both Manager times), plus how
    long ago the report arrived (both server times).
    """
    last = worker.get("last_activity")
    if last is None:
        return None
    zero = datetime.timedelta()
    at_report = clock.as_utc(worker["reported_at"]) - clock.as_utc(last)
    since_report = now - clock.as_utc(worker["received_at"])
    return max(at_report, zero) + max(since_report, zero)


def displayed_status(worker: dict, now: datetime.datetime) -> str:
    """The reported status, or ``offline`` when the worker was not seen within the window."""
    quiet = silence(worker, now)
    if quiet is None or quiet.total_seconds() > defaults.OFFLINE_AFTER_SECONDS:
        return WorkerStatus.OFFLINE
    return worker.get("status") or "unknown"


def last_seen(worker: dict, now: datetime.datetime) -> datetime.datetime | None:
    """The last contact in server time (the Manager's clock may differ)."""
    quiet = silence(worker, now)
    return None if quiet is None else now - quiet
