"""Workers as their Managers report them: who ran which task, and when.

The server never talks to workers; it only learns a worker's name from the
task updates its Manager sends (``worker``, ``activity``). Each task event that
names a worker and a Manager is recorded here, per Manager, in Redis: a sorted
set of workers by last report, plus the last task each one reported on.
Workers silent for :data:`FORGET_SECONDS` drop out of the list.
"""
from __future__ import annotations

import datetime
import json
import time
from typing import Any, Sequence, cast

import redis

# A worker not heard of for a week is gone (decommissioned or renamed).
FORGET_SECONDS = 7 * 24 * 3600
KEY_PREFIX = "flamenco:manager-workers"
# Fields of the task event kept as the worker's last report.
REPORT_FIELDS = ("_id", "job", "project", "name", "status", "activity")


def keys(manager_id: Any) -> tuple[str, str]:
    """The last-seen sorted set and the last-report hash of one Manager."""
    return f"{KEY_PREFIX}:{manager_id}:seen", f"{KEY_PREFIX}:{manager_id}:last"


def queue_events(pipe: redis.client.Pipeline, events: Sequence[dict]) -> None:
    """Record the workers of one publish's task events (used by ``flamenco.web.live_feed``):
    per Manager, each worker's last report of the publish, in one command per key."""
    reports: dict[Any, dict[Any, Any]] = {}  # manager -> worker -> JSON report
    for event in events:
        worker, manager = event.get("worker"), event.get("manager")
        if event["kind"] == "task" and worker and manager:
            reports.setdefault(manager, {})[worker] = json.dumps({f: event.get(f) for f in REPORT_FIELDS})
    now = time.time()
    for manager, last_reports in reports.items():
        seen, last = keys(manager)
        pipe.zadd(seen, dict.fromkeys(last_reports, now))
        pipe.zremrangebyscore(seen, "-inf", now - FORGET_SECONDS)
        pipe.hset(last, mapping=last_reports)
        for key in (seen, last):
            pipe.expire(key, FORGET_SECONDS)


def workers_of(client: redis.Redis, manager_id: Any) -> list[dict]:
    """The Manager's workers, most recently heard of first, with their last task report."""
    seen, last = keys(manager_id)
    entries = cast(list[tuple[bytes, float]],
                   client.zrevrangebyscore(seen, "+inf", time.time() - FORGET_SECONDS, withscores=True))
    if not entries:
        return []
    reports = client.hmget(last, [name for name, _ in entries])
    return [{"name": _text(name), "task": json.loads(report) if report else {},
             "last_seen": datetime.datetime.fromtimestamp(float(score), tz=datetime.timezone.utc)}
            for (name, score), report in zip(entries, reports)]


def _text(value: bytes | str) -> str:
    """Redis answers bytes unless the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else value
