"""How many tasks of each job have which status, without recounting every time.

Counting tasks per status takes one pass over ``flamenco_tasks``; on FerretDB
every pass reads the whole collection (100,000 tasks and more), so doing it on
every page view and every live update would make the dashboard slow. Counts
are therefore computed only for the jobs on screen, in one aggregation for all
of them, and cached in Redis per job. ``flamenco.events.publish`` deletes a
job's cached counts whenever that job or one of its tasks changes, so the cache
is exact while writers publish; a short expiry bounds the staleness otherwise.
"""
from __future__ import annotations

import logging
from typing import Iterable

import redis
from bson import ObjectId
from pymongo.database import Database

from flamenco import events
from flamenco.web import defaults

log = logging.getLogger(__name__)
Counts = dict[str, int]


def _from_cache(client: redis.Redis | None, job_ids: list[ObjectId]) -> dict[ObjectId, Counts]:
    if client is None or not job_ids:
        return {}
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(events.task_counts_key(job_id))
        replies = pipe.execute()
    except redis.RedisError as ex:
        log.warning("task counts cache unavailable: %s", ex)
        return {}
    found: dict[ObjectId, Counts] = {}
    for job_id, reply in zip(job_ids, replies):
        if reply:
            found[job_id] = {k.decode(): int(v) for k, v in reply.items() if k != b"_"}
    return found


def _to_cache(client: redis.Redis | None, counts: dict[ObjectId, Counts]) -> None:
    if client is None or not counts:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for job_id, by_status in counts.items():
            key = events.task_counts_key(job_id)
            # "_" marks "counted, zero tasks": Redis drops empty hashes.
            pipe.hset(key, mapping={"_": 0, **by_status})
            pipe.expire(key, defaults.TASK_COUNTS_CACHE_SECONDS)
        pipe.execute()
    except redis.RedisError as ex:
        log.warning("task counts not cached: %s", ex)


def count_tasks(db: Database, job_ids: list[ObjectId]) -> dict[ObjectId, Counts]:
    """Count the tasks of these jobs per status, in one aggregation."""
    counts: dict[ObjectId, Counts] = {job_id: {} for job_id in job_ids}
    if not job_ids:
        return counts
    pipeline = [
        {"$match": {"job": {"$in": job_ids}}},
        {"$group": {"_id": {"job": "$job", "status": "$status"}, "n": {"$sum": 1}}},
    ]
    for row in db["flamenco_tasks"].aggregate(pipeline):
        counts[row["_id"]["job"]][row["_id"]["status"]] = row["n"]
    return counts


def counts_for_jobs(db: Database, client: redis.Redis | None, job_ids: Iterable[ObjectId]) -> dict[ObjectId, Counts]:
    """``{job_id: {status: n}}`` for these jobs, from the cache where possible."""
    wanted = list(dict.fromkeys(job_ids))
    found = _from_cache(client, wanted)
    missing = [j for j in wanted if j not in found]
    if missing:
        fresh = count_tasks(db, missing)
        _to_cache(client, fresh)
        found.update(fresh)
    return found


def progress(counts: Counts) -> dict:
    """Summary for a progress bar: total, done (completed) and percentage."""
    total = sum(counts.values())
    done = counts.get("completed", 0)
    return {"total": total, "done": done, "percent": round(100 * done / total) if total else 0}
