"""Each project's jobs as the job list shows them: rows and status counts, kept in Redis.

See ``flamenco.web.row_index`` for how the read model is seeded and kept
current. Every job event patches its job's row (a deleted job's row goes), so
a job list recomputed after a job change reads Redis, not the jobs
collection: on the local store that is about 0.05 s instead of 2 s for a
project of 10,000 jobs (flamenco.store: scan).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import redis
from bson import ObjectId
from pymongo.database import Database

from flamenco.store.collections import JOBS
from flamenco.web import row_index
from flamenco.web.row_index import Counts

# Job fields kept per row: what a job-list row shows, filters on and sorts by.
ROW_FIELDS = ("name", "status", "job_type", "manager", "user", "priority", "_created", "_updated", "status_reason")

INDEX = row_index.RowIndex(
    collection=JOBS, group_field="project", fields=ROW_FIELDS, key_prefix="flamenco:project-job-rows",
    # Re-seeded at the latest this long after seeding: one pass over the
    # project's jobs, the safety net for writers that do not publish.
    seconds=3600,
    decoders={"manager": row_index.to_object_id, "user": row_index.to_object_id,
              "_created": row_index.to_datetime, "_updated": row_index.to_datetime},
)


def queue_events(pipe: redis.client.Pipeline, events: Sequence[dict]) -> None:
    """Add the row updates of one publish's job events to a Redis pipeline (``flamenco.web.live_feed``):
    one script call per project."""
    INDEX.queue_apply(pipe, [e for e in events if e["kind"] == "job" and e.get("project")])


def raw_job_rows(db: Database, client: redis.Redis, project_id: ObjectId) -> list[dict]:
    """The rows of every job of the project, unordered and undecoded (see ``RowIndex.raw_rows``)."""
    return INDEX.raw_rows(db, client, project_id)


def status_counts(db: Database, client: redis.Redis, project_ids: Iterable[ObjectId]) -> dict[ObjectId, Counts]:
    """``{project_id: {status: n}}`` over all jobs of each project."""
    return INDEX.counts(db, client, project_ids)
