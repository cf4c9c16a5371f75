"""The job list's query: filters, sorting and paging done by the database.

Only one page of jobs is ever loaded. The filter is a plain equality/``$in``
query on ``flamenco_jobs`` so it works the same on MongoDB (where an index on
``project`` serves it) and FerretDB (which scans the collection once).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping

from bson import ObjectId
from bson.errors import InvalidId
import redis
from pymongo.database import Database

from flamenco.web import defaults, job_cache

# Only these fields are read for a list row.
ROW_PROJECTION = {
    "name": 1, "status": 1, "job_type": 1, "manager": 1, "user": 1,
    "priority": 1, "_created": 1, "_updated": 1, "status_reason": 1,
}


class FilterError(ValueError):
    """A query-string parameter of the job list is not valid; shown as a 400."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class JobQuery:
    """What the visitor asked for in the job list's query string."""

    statuses: tuple[str, ...] = ()
    job_types: tuple[str, ...] = ()
    managers: tuple[ObjectId, ...] = ()
    users: tuple[ObjectId, ...] = ()
    sort: str = defaults.JOB_SORT_DEFAULT
    page: int = 1

    def mongo_filter(self, project_id: ObjectId) -> dict:
        """The MongoDB filter selecting this query's jobs of one project."""
        query: dict = {"project": project_id}
        if self.statuses:
            query["status"] = {"$in": list(self.statuses)}
        else:
            query["status"] = {"$nin": list(defaults.HIDDEN_BY_DEFAULT_STATUSES)}
        for field, values in (("job_type", self.job_types), ("manager", self.managers), ("user", self.users)):
            if values:
                query[field] = {"$in": list(values)}
        return query

    def mongo_sort(self) -> list[tuple[str, int]]:
        """Sort key plus ``_id`` as tie-break, so paging is stable."""
        field = self.sort.lstrip("-")
        direction = -1 if self.sort.startswith("-") else 1
        return [(field, direction), ("_id", direction)]

    def query_args(self, **changes: object) -> dict:
        """This query as URL parameters, with some changed (for links)."""
        q = dataclasses.replace(self, **changes)
        args: dict = {
            "status": list(q.statuses), "job_type": list(q.job_types),
            "manager": [str(m) for m in q.managers], "user": [str(u) for u in q.users],
        }
        if q.sort != defaults.JOB_SORT_DEFAULT:
            args["sort"] = q.sort
        if q.page != 1:
            args["page"] = q.page
        return {k: v for k, v in args.items() if v}


def _object_ids(field: str, values: list[str]) -> tuple[ObjectId, ...]:
    try:
        return tuple(ObjectId(v) for v in values if v)
    except (InvalidId, TypeError):
        raise FilterError(field, "is not a valid id") from None


def parse_query(args: Mapping, known_statuses: tuple[str, ...]) -> JobQuery:
    """Read and validate the job list's query string (a werkzeug MultiDict)."""
    statuses = tuple(s for s in args.getlist("status") if s)
    unknown = [s for s in statuses if s not in known_statuses]
    if unknown:
        raise FilterError("status", f"unknown job status {unknown[0]!r}")
    sort = args.get("sort") or defaults.JOB_SORT_DEFAULT
    if sort.lstrip("-") not in defaults.JOB_SORT_FIELDS:
        raise FilterError("sort", f"must be one of {', '.join(defaults.JOB_SORT_FIELDS)} (prefix '-' for descending)")
    try:
        page = int(args.get("page") or 1)
    except ValueError:
        raise FilterError("page", "must be a whole number") from None
    if page < 1:
        raise FilterError("page", "must be 1 or more")
    return JobQuery(
        statuses=statuses,
        job_types=tuple(t for t in args.getlist("job_type") if t),
        managers=_object_ids("manager", args.getlist("manager")),
        users=_object_ids("user", args.getlist("user")),
        sort=sort,
        page=page,
    )


@dataclasses.dataclass(frozen=True)
class JobPage:
    """One page of the job list."""

    jobs: list[dict]
    total: int
    page: int
    page_size: int

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def fetch_page(db: Database, cache: redis.Redis, project_id: ObjectId, query: JobQuery,
               page_size: int = defaults.JOB_PAGE_SIZE) -> JobPage:
    """Count the matching jobs and load the requested page of them (cached, see job_cache).

    A page past the end shows the last page rather than an empty list.
    """
    def count_and_load() -> dict:
        jobs = db["flamenco_jobs"]
        mongo_filter = query.mongo_filter(project_id)
        total = jobs.count_documents(mongo_filter)
        page = min(query.page, max(1, math.ceil(total / page_size)))
        cursor = (jobs.find(mongo_filter, ROW_PROJECTION)
                  .sort(query.mongo_sort()).skip((page - 1) * page_size).limit(page_size))
        return {"jobs": list(cursor), "total": total, "page": page}

    found = job_cache.cached(cache, project_id, f"list {query!r} {page_size}", count_and_load)
    return JobPage(jobs=found["jobs"], total=found["total"], page=found["page"], page_size=page_size)
