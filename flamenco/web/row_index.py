"""Redis read models of groups of documents (a job's tasks, a project's jobs).

Why: on the local (and CI) store a query decodes every document it selects
in Go, about 0.1 ms each (flamenco.store: scan); a project with 10,000 jobs
costs seconds per job-list query, and the job list is queried again after
every job change.
So per group (a job, a project) the dashboard keeps, in Redis:

- ``rows``: document id -> JSON row of the few fields pages show;
- ``counts``: status -> number of documents, for progress bars and summaries.

A group's index is *seeded* with one query the first time a page needs it
(one ``$in`` query for all the groups a page shows, served by an index on the
group field; our build of the local store pushes it down, flamenco.store:
scan), then kept current by the live-update events
(``flamenco.web.live_feed.publish_many``): an event patches its row and the counts
atomically (a Lua script); an event with status ``deleted`` removes the row;
a bulk change drops the group's index so it is seeded again. Every index also
expires after ``seconds``, which bounds how stale it can get if some writer
forgets to publish.

A job's task counts for the job list come from the job document
(``flamenco.task_counts``), which the rules keep; the counts here serve the
project page (jobs per status). If Redis is unreachable, pages query MongoDB
directly instead.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from typing import Any, Callable, Iterable, Mapping, cast

import redis
from bson import ObjectId
from pymongo.database import Database
from redis.commands.core import Script

from flamenco.web import live_events

log = logging.getLogger(__name__)

Counts = dict[str, int]
# Rows sent to Redis per seeding or applying call: keeps each Lua call short,
# since Redis serves nobody else while a script runs.
SEED_BATCH = 2000
# The status that removes a row (published by whoever deletes a document).
DELETED = live_events.DELETED

# KEYS: rows, counts, generation. ARGV: ttl, then row id / JSON fields pairs,
# applied in order (one call per group and publish, however many rows changed).
# Merge each row's fields into the row and move the row's count from its old
# status to its new one; a deletion removes the row and bumps the generation,
# so a seeding running meanwhile cannot bring the row back.
_APPLY = """
local deleted = false
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local fields = cjson.decode(ARGV[i + 1])
  local row = {}
  if cur then row = cjson.decode(cur) end
  local old = row['status']
  if fields['status'] == '""" + DELETED + """' then
    if cur then
      redis.call('HDEL', KEYS[1], ARGV[i])
      if old then redis.call('HINCRBY', KEYS[2], old, -1) end
    end
    deleted = true
  else
    for k, v in pairs(fields) do row[k] = v end
    redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(row))
    local new = row['status']
    if cur and old ~= new and old then redis.call('HINCRBY', KEYS[2], old, -1) end
    if (not cur or old ~= new) and new then redis.call('HINCRBY', KEYS[2], new, 1) end
  end
end
if deleted then
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[1] * 2)
end
for i = 1, 2 do
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
end
return 1
"""

# KEYS: rows. ARGV: ttl, then row id / JSON row pairs. A row already present
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
# or a deletion happened meanwhile (then drop what was seeded).
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

# KEYS: rows, counts, ready, generation. ARGV: ttl of the generation.
_DROP = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], ARGV[1])
return 1
"""


_scripts: dict[str, Script] = {}


def _script(client: redis.Redis | redis.client.Pipeline, source: str) -> Script:
    """One Script object per Lua source, whatever the client: a pipeline checks
    each distinct Script object with the server before running, so a new one
    per event made publishing 10,000 events cost 10,000 extra round trips."""
    found = _scripts.get(source)
    if found is None:
        found = _scripts[source] = Script(client, source)
    return found


def to_datetime(value: Any) -> Any:
    """ISO-8601 text (how rows keep datetimes) back to a datetime."""
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) else value


def to_object_id(value: Any) -> Any:
    """Hex text (how rows keep ObjectIds) back to an ObjectId."""
    return ObjectId(value) if isinstance(value, str) and ObjectId.is_valid(value) else value


def to_object_ids(value: Any) -> list:
    """A list of ObjectIds; Lua's JSON encodes an empty list as ``{}``."""
    return [to_object_id(v) for v in value if v] if isinstance(value, list) else []


@dataclasses.dataclass(frozen=True)
class RowIndex:
    """The read model of one kind of document, grouped by one of its fields.

    ``fields`` must include ``status``: the counts and deletions read it.
    """

    collection: str
    group_field: str
    fields: tuple[str, ...]
    key_prefix: str
    seconds: int
    # Field -> function turning the row's JSON value back into the document's type.
    decoders: Mapping[str, Callable[[Any], Any]] = dataclasses.field(default_factory=dict)

    def keys(self, group_id: Any) -> list[str]:
        """The rows, counts, ready-marker and generation keys of one group."""
        return [f"{self.key_prefix}:{group_id}:{part}" for part in ("rows", "counts", "ready", "gen")]

    def row_of(self, doc: Mapping) -> dict:
        """The JSON-ready row of a document (or of an event)."""
        return {f: live_events.jsonable(doc[f]) for f in self.fields if f in doc}

    def queue_apply(self, pipe: redis.client.Pipeline, events: Iterable[Mapping]) -> None:
        """Add the changed fields of documents (events naming their ``_id`` and group, applied in
        order) to a Redis pipeline: one script call per group and :data:`SEED_BATCH` rows."""
        by_group: dict[Any, list[str]] = {}
        for event in events:
            by_group.setdefault(event[self.group_field], []).extend(
                [str(event["_id"]), json.dumps({f: event[f] for f in self.fields if f in event})])
        for group_id, args in by_group.items():
            group_keys = self.keys(group_id)
            for start in range(0, len(args), 2 * SEED_BATCH):
                _script(pipe, _APPLY)(keys=[group_keys[0], group_keys[1], group_keys[3]],
                                      args=[self.seconds, *args[start:start + 2 * SEED_BATCH]], client=pipe)

    def queue_drop(self, pipe: redis.client.Pipeline, group_id: Any) -> None:
        """Add dropping a group's index (after a bulk change) to a Redis pipeline."""
        _script(pipe, _DROP)(keys=self.keys(group_id), args=[self.seconds * 2], client=pipe)

    def ensure_seeded(self, db: Database, client: redis.Redis, group_ids: Iterable[Any]) -> None:
        """Seed the index of those groups that have none, with one query for all of them."""
        wanted = list(dict.fromkeys(group_ids))
        if not wanted:
            return
        flags = client.mget([self.keys(g)[2] for g in wanted])
        missing = [g for g, flag in zip(wanted, flags) if not flag]
        if not missing:
            return
        query = {self.group_field: missing[0] if len(missing) == 1 else {"$in": missing}}
        projection = {f: 1 for f in self.fields} | {self.group_field: 1}
        seeding = _Seeding(self, client, missing)
        for doc in db[self.collection].find(query, projection):
            seeding.add(doc)
        seeding.finish()

    def counts(self, db: Database, client: redis.Redis, group_ids: Iterable[Any]) -> dict[Any, Counts]:
        """``{group_id: {status: n}}`` for these groups."""
        wanted = list(dict.fromkeys(group_ids))
        if not wanted:
            return {}
        try:
            self.ensure_seeded(db, client, wanted)
            pipe = client.pipeline(transaction=False)
            for group_id in wanted:
                pipe.hgetall(self.keys(group_id)[1])
            replies = pipe.execute()
        except redis.RedisError as ex:
            log.warning("%s index unavailable, counting in the database: %s", self.collection, ex)
            return self._counts_from_db(db, wanted)
        return {g: {k.decode(): int(v) for k, v in reply.items() if int(v) > 0} for g, reply in zip(wanted, replies)}

    def _counts_from_db(self, db: Database, group_ids: list) -> dict[Any, Counts]:
        counts: dict[Any, Counts] = {g: {} for g in group_ids}
        pipeline: list[dict[str, Any]] = [{"$match": {self.group_field: {"$in": group_ids}}},
                    {"$group": {"_id": {"group": f"${self.group_field}", "status": "$status"}, "n": {"$sum": 1}}}]
        for row in db[self.collection].aggregate(pipeline):
            counts[row["_id"]["group"]][row["_id"]["status"]] = row["n"]
        return counts

    def raw_rows(self, db: Database, client: redis.Redis, group_id: Any) -> list[dict]:
        """All rows of a group, unordered, as kept: JSON values, ``_id`` as hex text.

        Cheap to filter and sort (hex ids and ISO-8601 UTC times sort like the
        values they stand for); :meth:`decode` the rows actually shown.
        """
        try:
            self.ensure_seeded(db, client, [group_id])
            raw = client.hgetall(self.keys(group_id)[0])
        except redis.RedisError as ex:
            log.warning("%s index unavailable, reading the database: %s", self.collection, ex)
            return [{**self.row_of(doc), "_id": str(doc["_id"])}
                    for doc in db[self.collection].find({self.group_field: group_id}, {f: 1 for f in self.fields})]
        # One JSON document for all rows: json.loads per row costs twice as much.
        rows = cast(dict[bytes, bytes], raw)  # the index's client answers bytes
        parsed = json.loads(b"[" + b",".join(rows.values()) + b"]")
        for key, row in zip(rows, parsed):
            row["_id"] = key.decode()
        return parsed

    def decode(self, row: Mapping) -> dict:
        """A raw row with ``_id`` and the decoded fields back in their document types."""
        decoded = {**row, "_id": ObjectId(row["_id"])}
        for field, decode in self.decoders.items():
            if field in decoded:
                decoded[field] = decode(decoded[field])
        return decoded

    def rows(self, db: Database, client: redis.Redis, group_id: Any) -> list[dict]:
        """All rows of a group, unordered, decoded."""
        return [self.decode(row) for row in self.raw_rows(db, client, group_id)]


class _Seeding:
    """Rows of the groups being seeded, sent to Redis in pipelined batches.

    The generations of the groups are read before the database is: if a bulk
    change or a deletion touches a group meanwhile, finishing notices and
    discards its seeded rows.
    """

    def __init__(self, index: RowIndex, client: redis.Redis, group_ids: list) -> None:
        self.index = index
        self.client = client
        self.seed_rows = _script(client, _SEED_ROWS)
        found = client.mget([index.keys(g)[3] for g in group_ids])
        self.generations = {g: gen.decode() if isinstance(gen, bytes) else str(gen or "0")
                            for g, gen in zip(group_ids, found)}
        self.pending: dict[Any, list[str]] = {}
        self.pending_rows = 0

    def add(self, doc: dict) -> None:
        self.pending.setdefault(doc[self.index.group_field], []).extend(
            [str(doc["_id"]), json.dumps(self.index.row_of(doc))])
        self.pending_rows += 1
        if self.pending_rows >= SEED_BATCH:
            self.flush()

    def flush(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        for group_id, batch in self.pending.items():
            self.seed_rows(keys=self.index.keys(group_id)[:1], args=[self.index.seconds, *batch], client=pipe)
        pipe.execute()
        self.pending = {}
        self.pending_rows = 0

    def finish(self) -> None:
        self.flush()
        finish = _script(self.client, _FINISH_SEED)
        pipe = self.client.pipeline(transaction=False)
        for group_id, generation in self.generations.items():
            finish(keys=self.index.keys(group_id), args=[self.index.seconds, generation], client=pipe)
        pipe.execute()
