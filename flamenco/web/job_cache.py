"""Cache of job-list query results, dropped whenever a job of the project changes.

Why: a job-list page costs two passes over ``flamenco_jobs`` (count and page);
the local store cannot use indexes for them (flamenco.store: scan, count), so
with 10,000 jobs each pass takes seconds. Yet most page loads, and all live
refreshes caused by task progress, repeat a query whose answer has not
changed. Each project has a *generation* number in
Redis that ``flamenco.web.live_feed.publish_many`` increments on every job event of the
project; cached answers are keyed by it, so a job change makes every cached
answer of its project unreachable at once. A short expiry bounds staleness
for writers that change jobs without publishing.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Callable, Sequence, TypeVar

import redis
from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from bson.tz_util import utc

log = logging.getLogger(__name__)
T = TypeVar("T")

# Cached answers live at most this long (seconds), even without job events.
CACHE_SECONDS = 60
# Generation counters outlive any answer cached under them.
GENERATION_SECONDS = 24 * 3600
KEY_PREFIX = "flamenco:project-jobs"
# Canonical Extended JSON keeps ObjectIds, ints and datetimes (tz-aware, as PyMongo gives them).
JSON_OPTIONS = CANONICAL_JSON_OPTIONS.with_options(tz_aware=True, tzinfo=utc)


def generation_key(project_id: Any) -> str:
    return f"{KEY_PREFIX}:{project_id}:gen"


def queue_job_events(pipe: redis.client.Pipeline, events: Sequence[dict]) -> None:
    """Make the cached answers of every project with a job event unreachable (used by
    ``flamenco.web.live_feed``): one increment per project, however many of its jobs changed."""
    projects = dict.fromkeys(e["project"] for e in events if e["kind"] == "job" and e.get("project"))
    for project_id in projects:
        key = generation_key(project_id)
        pipe.incr(key)
        pipe.expire(key, GENERATION_SECONDS)


def cached(client: redis.Redis, project_id: Any, query_name: str, compute: Callable[[], T]) -> T:
    """``compute()``, or its cached answer for this project and query.

    ``query_name`` must describe the query completely (filters, sort, page).
    Values keep their BSON types (ObjectIds, datetimes) through the cache.
    Without Redis, simply computes.
    """
    try:
        stored = client.get(generation_key(project_id)) or b"0"
        generation = stored.decode() if isinstance(stored, bytes) else str(stored)
        digest = hashlib.sha1(query_name.encode()).hexdigest()
        key = f"{KEY_PREFIX}:{project_id}:{generation}:{digest}"
        raw = client.get(key)
    except redis.RedisError as ex:
        log.warning("job list cache unavailable: %s", ex)
        return compute()
    if raw is not None:
        return json_util.loads(raw, json_options=JSON_OPTIONS)
    value = compute()
    try:
        client.set(key, json_util.dumps(value, json_options=JSON_OPTIONS), ex=CACHE_SECONDS)
    except redis.RedisError as ex:
        log.warning("job list answer not cached: %s", ex)
    return value
