"""The job list's query: filters, sorting and paging over the project's job rows.

The rows come from the Redis read model ``flamenco.web.job_index`` (one
small JSON row per job), not from the jobs collection: on the local store a
query over a project's 10,000 jobs decodes every one of them in Go
(flamenco.store: scan), about 2 s per query, and the job list is recomputed
after every job change. Filtering and sorting 10,000 rows in Python takes a
few tens of milliseconds. Answers are cached per query until a job of the
project changes (``job_cache``).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Iterable, Mapping

from bson import ObjectId
from bson.errors import InvalidId
import redis
from werkzeug.datastructures import MultiDict
from pymongo.database import Database

from flamenco.web import defaults, job_cache, job_index

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

    def matches(self, row: Mapping) -> bool:
        """Whether a raw job row (ids as hex text) passes the filters; hidden statuses only when asked for."""
        if self.statuses:
            if row.get("status") not in self.statuses:
                return False
        elif row.get("status") in defaults.HIDDEN_BY_DEFAULT_STATUSES:
            return False
        return all(row.get(field) in wanted for field, wanted in self._raw_filters)

    @functools.cached_property
    def _raw_filters(self) -> list[tuple[str, frozenset[str]]]:
        """The field filters in use, with ids as hex text like the raw rows have them."""
        filters = (("job_type", self.job_types), ("manager", self.managers), ("user", self.users))
        return [(field, frozenset(str(w) for w in wanted)) for field, wanted in filters if wanted]

    def sorted_rows(self, rows: Iterable[dict]) -> list[dict]:
        """Raw rows in MongoDB's order for this sort: missing values first ascending, ``_id`` breaks ties.

        Raw values sort as the document values would: hex ids as ObjectIds,
        ISO-8601 UTC texts as the datetimes.
        """
        field = self.sort.lstrip("-")

        def key(row: dict) -> tuple:
            value = row.get(field)
            return (value is not None, "" if value is None else value, row["_id"])

        return sorted(rows, key=key, reverse=self.sort.startswith("-"))

    def query_args(self, **changes: Any) -> dict:
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


def parse_query(args: MultiDict, known_statuses: tuple[str, ...]) -> JobQuery:
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
    """Count the matching jobs and pick the requested page of them (cached, see job_cache).

    A page past the end shows the last page rather than an empty list.
    """
    def count_and_pick() -> dict:
        rows = job_index.raw_job_rows(db, cache, project_id)
        matching = query.sorted_rows(r for r in rows if query.matches(r))
        page = min(query.page, max(1, math.ceil(len(matching) / page_size)))
        shown = matching[(page - 1) * page_size:page * page_size]
        return {"jobs": [job_index.INDEX.decode(r) for r in shown], "total": len(matching), "page": page}

    found = job_cache.cached(cache, project_id, f"list {query!r} {page_size}", count_and_pick)
    return JobPage(jobs=found["jobs"], total=found["total"], page=found["page"], page_size=page_size)
