"""A Redis read model of each job's tasks, so dashboard pages do not scan tasks.

Why: on FerretDB (the local and CI store) every query that is not a plain
``_id`` lookup decodes the whole collection; with 100,000 tasks one query for
the tasks of a job takes many seconds. So per job the dashboard keeps, in Redis:

- ``rows``: task id -> JSON row (name, status, worker, activity, parents, ...),
  enough for the task table and the dependency graph;
- ``counts``: status -> number of tasks, for progress bars.

A job's index is *seeded* with one query the first time a page needs it
(one query for all the jobs of a page), then kept current by the live-update
events (``flamenco.events.publish``): a task event patches its row and the
counts atomically (a Lua script), a job event that changed tasks in bulk drops
the index so it is seeded again. Every index also expires
:data:`INDEX_SECONDS` after seeding, which bounds how stale it can get if
some writer forgets to publish. On real MongoDB the same queries are served by
indexes and the read model only saves round trips.

If Redis is unreachable, pages query MongoDB directly instead.
"""
from __future__ import annotations

import datetime
import json
import logging
from typing import Any, Iterable

import redis
from bson import ObjectId
from pymongo.database import Database

from flamenco import events

log = logging.getLogger(__name__)

Counts = dict[str, int]
# Task fields kept per row; all but ``parents`` also travel in task events.
ROW_FIELDS = ("name", "status", "task_type", "worker", "activity", "priority", "_updated",
              "task_progress_percentage", "parents")
# An index is re-seeded at the latest this long after seeding (see module
# doc). Events keep it current meanwhile, and seeding a project costs a pass
# over all tasks, which takes about a minute on FerretDB with 100,000 tasks.
INDEX_SECONDS = 24 * 3600
# Rows sent to Redis per seeding call: keeps each Lua call short, since Redis
# serves nobody else while a script runs.
SEED_BATCH = 2000
KEY_PREFIX = "flamenco:job-tasks"

# KEYS: rows, counts. ARGV: task id, JSON fields, ttl. Merge the fields into
# the row, move the row's count from its old status to its new one.
_APPLY_TASK = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local row = {}
if cur then row = cjson.decode(cur) end
local old = row['status']
for k, v in pairs(cjson.decode(ARGV[2])) do row[k] = v end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(row))
local new = row['status']
if cur and old ~= new then
  if old then redis.call('HINCRBY', KEYS[2], old, -1) end
end
if (not cur or old ~= new) and new then redis.call('HINCRBY', KEYS[2], new, 1) end
for i = 1, 2 do
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
return 1
"""

# KEYS: rows. ARGV: ttl, then task id / JSON row pairs. A row already present
# came from an event newer than the seeding query: its fields win.
_SEED_ROWS = """
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    local row = cjson.decode(ARGV[i + 1])
    for k, v in pairs(cjson.decode(cur)) do row[k] = v end
    redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(row))
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS: rows, counts, ready, generation. ARGV: ttl, generation seen when
# seeding started. Recount from the rows and mark ready, unless a bulk change
# dropped the index meanwhile (then drop what was seeded).
_FINISH_SEED = """
if (redis.call('GET', KEYS[4]) or '0') ~= ARGV[2] then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return 0
end
local counts = {}
for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do
  local status = cjson.decode(raw)['status']
  if status then counts[status] = (counts[status] or 0) + 1 end
end
redis.call('DEL', KEYS[2])
for status, n in pairs(counts) do redis.call('HSET', KEYS[2], status, n) end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""

# KEYS: rows, counts, ready, generation.
_DROP = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], ARGV[1])
return 1
"""


def keys(job_id: Any) -> list[str]:
    """The rows, counts, ready-marker and generation keys of one job."""
    return [f"{KEY_PREFIX}:{job_id}:{part}" for part in ("rows", "counts", "ready", "gen")]


def _script(client: redis.Redis, source: str) -> Any:
    return client.register_script(source)


def row_of(task: dict) -> dict:
    """The JSON-ready row of a task document (or of an event)."""
    return {f: events.jsonable(task[f]) for f in ROW_FIELDS if f in task}


def queue_event(pipe: redis.client.Pipeline, event: dict, *, tasks_changed: bool) -> None:
    """Add the index update for one live-update event to a Redis pipeline.

    Called by ``flamenco.events.publish_many`` for every event it sends.
    """
    job_id = event.get("job")
    if not job_id:
        return
    if event["kind"] == "task":
        fields = {f: event[f] for f in ROW_FIELDS if f in event}
        _script(pipe, _APPLY_TASK)(keys=keys(job_id)[:2], args=[event["_id"], json.dumps(fields), INDEX_SECONDS],
                                   client=pipe)
    elif tasks_changed:
        _script(pipe, _DROP)(keys=keys(job_id), args=[INDEX_SECONDS * 2], client=pipe)


class _Seeding:
    """Rows of the jobs being seeded, sent to Redis in pipelined batches.

    The generation of each job is read before any of its rows is written: if
    a bulk change drops that job's index meanwhile, finishing notices and
    discards the seeded rows.
    """

    def __init__(self, client: redis.Redis, job_ids: Iterable[ObjectId]) -> None:
        self.client = client
        self.seed_rows = _script(client, _SEED_ROWS)
        self.generations: dict[ObjectId, str] = {}
        self.pending: dict[ObjectId, list[str]] = {}
        self.pending_rows = 0
        for job_id in job_ids:
            self.pending.setdefault(job_id, [])

    def add(self, task: dict) -> None:
        self.pending.setdefault(task["job"], []).extend([str(task["_id"]), json.dumps(row_of(task))])
        self.pending_rows += 1
        if self.pending_rows >= SEED_BATCH:
            self.flush()

    def flush(self) -> None:
        """Read the generations of newly met jobs, then write their rows: two round trips."""
        new = [j for j in self.pending if j not in self.generations]
        if new:
            found = self.client.mget([keys(j)[3] for j in new])
            self.generations.update({j: g.decode() if g else "0" for j, g in zip(new, found)})
        pipe = self.client.pipeline(transaction=False)
        for job_id, batch in self.pending.items():
            if batch:
                self.seed_rows(keys=keys(job_id)[:1], args=[INDEX_SECONDS, *batch], client=pipe)
        pipe.execute()
        self.pending = {}
        self.pending_rows = 0

    def finish(self) -> None:
        self.flush()
        finish = _script(self.client, _FINISH_SEED)
        pipe = self.client.pipeline(transaction=False)
        for job_id, generation in self.generations.items():
            finish(keys=keys(job_id), args=[INDEX_SECONDS, generation], client=pipe)
        pipe.execute()


def _seed(client: redis.Redis, job_ids: list[ObjectId], tasks: Iterable[dict]) -> None:
    """Fill the index of these jobs, and of any other job the tasks belong to, from all their tasks."""
    seeding = _Seeding(client, job_ids)
    for task in tasks:
        seeding.add(task)
    seeding.finish()


def seed_from_tasks(job_id: ObjectId, tasks: Iterable[dict], client: redis.Redis | None = None) -> bool:
    """Index a freshly compiled job from the task documents the compiler just inserted.

    Saves the seeding query (a full pass over the tasks on FerretDB) that the
    first page showing the new job would otherwise make. Best-effort, like
    ``flamenco.events.publish``, whose Redis client it uses by default.
    """
    try:
        _seed(client or events.client(), [job_id], ({**t, "job": job_id} for t in tasks))
    except redis.RedisError as ex:
        log.warning("task index of new job %s not seeded: %s", job_id, ex)
        return False
    return True


def _ready(client: redis.Redis, job_ids: list[ObjectId]) -> set[ObjectId]:
    flags = client.mget([keys(j)[2] for j in job_ids])
    return {j for j, flag in zip(job_ids, flags) if flag}


def project_ready_key(project_id: Any) -> str:
    return f"{KEY_PREFIX}:project:{project_id}:ready"


def ensure_seeded(db: Database, client: redis.Redis, project_id: ObjectId, job_ids: Iterable[ObjectId]) -> None:
    """Seed the index of those jobs that have none.

    The first time in :data:`INDEX_SECONDS`, all jobs of the project are
    seeded in one query: on FerretDB any task query reads every task anyway,
    so one pass then makes every later page of the project fast. After that,
    only jobs whose index was dropped are seeded, with one query for all of
    them (cheap on MongoDB, one pass on FerretDB).
    """
    wanted = list(dict.fromkeys(job_ids))
    if not wanted:
        return
    missing = [j for j in wanted if j not in _ready(client, wanted)]
    if not missing:
        return
    projection = {f: 1 for f in ROW_FIELDS} | {"job": 1}
    if client.set(project_ready_key(project_id), "1", nx=True, ex=INDEX_SECONDS):
        query: dict = {"project": project_id}
    else:
        query = {"job": missing[0]} if len(missing) == 1 else {"job": {"$in": missing}}
    _seed(client, missing, db["flamenco_tasks"].find(query, projection))


def _counts_from_db(db: Database, job_ids: list[ObjectId]) -> dict[ObjectId, Counts]:
    counts: dict[ObjectId, Counts] = {j: {} for j in job_ids}
    pipeline = [{"$match": {"job": {"$in": job_ids}}},
                {"$group": {"_id": {"job": "$job", "status": "$status"}, "n": {"$sum": 1}}}]
    for row in db["flamenco_tasks"].aggregate(pipeline):
        counts[row["_id"]["job"]][row["_id"]["status"]] = row["n"]
    return counts


def counts_for_jobs(db: Database, client: redis.Redis, project_id: ObjectId,
                    job_ids: Iterable[ObjectId]) -> dict[ObjectId, Counts]:
    """``{job_id: {status: n}}`` for these jobs of the project."""
    wanted = list(dict.fromkeys(job_ids))
    if not wanted:
        return {}
    try:
        ensure_seeded(db, client, project_id, wanted)
        pipe = client.pipeline(transaction=False)
        for job_id in wanted:
            pipe.hgetall(keys(job_id)[1])
        replies = pipe.execute()
    except redis.RedisError as ex:
        log.warning("task index unavailable, counting in the database: %s", ex)
        return _counts_from_db(db, wanted)
    return {j: {k.decode(): int(v) for k, v in reply.items() if int(v) > 0} for j, reply in zip(wanted, replies)}


def _sort_key(row: dict) -> tuple:
    """Task table order: higher priority first, then creation order (ObjectId)."""
    return (-(row.get("priority") or 0), row["_id"])


def rows_for_job(db: Database, client: redis.Redis, project_id: ObjectId, job_id: ObjectId) -> list[dict]:
    """All rows of a job's tasks, in task-table order; ``_id`` and ``parents`` as ObjectIds."""
    try:
        ensure_seeded(db, client, project_id, [job_id])
        raw = client.hgetall(keys(job_id)[0])
        rows = [{**json.loads(v), "_id": ObjectId(k.decode())} for k, v in raw.items()]
    except redis.RedisError as ex:
        log.warning("task index unavailable, reading tasks from the database: %s", ex)
        rows = list(db["flamenco_tasks"].find({"job": job_id}, {f: 1 for f in ROW_FIELDS}))
    for row in rows:
        # Lua's JSON encodes an empty list as {}.
        row["parents"] = [ObjectId(p) for p in row.get("parents") or [] if p]
        if isinstance(row.get("_updated"), str):
            row["_updated"] = datetime.datetime.fromisoformat(row["_updated"])
    return sorted(rows, key=_sort_key)


def progress(counts: Counts) -> dict:
    """Summary for a progress bar: total, done (completed) and percentage."""
    total = sum(counts.values())
    done = counts.get("completed", 0)
    return {"total": total, "done": done, "percent": round(100 * done / total) if total else 0}
