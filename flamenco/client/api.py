"""``FlamencoClient``: submit, inspect, cancel and requeue jobs over the server's REST API.

Speaks the Flamenco 2 wire contract (reference v2-server.md §5): Eve resources
under ``/api/flamenco`` with ``where``/``sort``/``max_results``/``page`` list
arguments, and ``PATCH {"op": ...}`` operations on jobs (§5.2). Every failure
becomes a :mod:`flamenco.client.errors` exception with a readable message.
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any, Iterator, Mapping

import requests

from flamenco.client import defaults
from flamenco.client.errors import InvalidInput, ServerUnreachable, error_from_response
from flamenco.client.jobs import BlenderRenderJob
from flamenco_protocol.statuses import JobStatus, TaskStatus

# Job statuses after which a job makes no more progress by itself; watching stops there.
# `paused` is included: nothing runs until a person requeues the job.
FINAL_JOB_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED,
                                JobStatus.CONSTRUCTION_FAILED, JobStatus.PAUSED, JobStatus.ARCHIVING,
                                JobStatus.ARCHIVED})
# Requeue rules of reference §3.3: the whole job from these statuses ...
REQUEUE_JOB_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED, JobStatus.PAUSED})
# ... and only its failed tasks while it is still running.
REQUEUE_FAILED_TASKS_JOB_STATUSES = frozenset({JobStatus.ACTIVE, JobStatus.QUEUED})
# MongoDB ObjectIds as the API writes them; checked before they go into a URL.
OBJECT_ID = re.compile(r"[0-9a-f]{24}")


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of an Eve list; ``total`` is None when the server skips counting."""

    items: list[dict]
    page: int
    max_results: int
    total: int | None


@dataclasses.dataclass(frozen=True)
class TaskSummary:
    """How many of a job's tasks have which status."""

    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def completed(self) -> int:
        return self.counts.get(TaskStatus.COMPLETED, 0)

    def describe(self) -> str:
        """``"8 queued, 3 completed, 1 active"``: the most common status first."""
        return ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items(), key=lambda kv: -kv[1])) \
            or "no tasks"


@dataclasses.dataclass(frozen=True)
class Progress:
    """A job and its task counts, as seen at one poll."""

    job: dict
    tasks: TaskSummary

    @property
    def finished(self) -> bool:
        return self.job.get("status") in FINAL_JOB_STATUSES


@dataclasses.dataclass(frozen=True)
class Target:
    """The project and Manager a job goes to."""

    project_id: str
    project_name: str
    manager_id: str
    manager_name: str
    # Task types the Manager's workers can run, as it last reported them (empty: never reported).
    manager_task_types: tuple[str, ...] = ()


class FlamencoClient:
    """A user's connection to a Flamenco server, authenticated by a token."""

    def __init__(self, server_url: str, token: str, *,
                 timeout: tuple[float, float] = (defaults.CONNECT_TIMEOUT, defaults.READ_TIMEOUT)) -> None:
        if not server_url.startswith(("http://", "https://")):
            raise InvalidInput("server", f"{server_url!r} is not an http:// or https:// URL")
        self.server_url = server_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "FlamencoClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None) -> Any:
        """Send a request to ``path`` (below the server URL); the decoded JSON answer or None."""
        url = self.server_url + path
        try:
            response = self.session.request(method, url, params=params, json=body, timeout=self.timeout)
        except requests.Timeout:
            raise ServerUnreachable(f"the server at {self.server_url} did not answer in time") from None
        except requests.ConnectionError:
            raise ServerUnreachable(f"cannot connect to the Flamenco server at {self.server_url}; "
                                    "is it running? (set --server or FLAMENCO_SERVER)") from None
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerUnreachable(f"{url} answered with something other than JSON; "
                                    "is this the URL of a Flamenco server?") from None

    def list_page(self, resource: str, *, where: Mapping[str, Any] | None = None, sort: str | None = None,
                  projection: Mapping[str, int] | None = None, page: int = 1,
                  max_results: int = defaults.PAGE_SIZE) -> Page:
        """One page of an Eve resource listing (``resource`` is the path below ``/api``)."""
        params: dict[str, Any] = {"page": page, "max_results": max_results}
        if where:
            params["where"] = json.dumps(where, default=str)
        if sort:
            params["sort"] = sort
        if projection:
            params["projection"] = json.dumps(projection)
        answer = self.request("GET", f"/api/{resource}", params=params) or {}
        meta = answer.get("_meta") or {}
        return Page(items=answer.get("_items") or [], page=int(meta.get("page", page)),
                    max_results=int(meta.get("max_results", max_results)), total=meta.get("total"))

    def list_all(self, resource: str, **kwargs: Any) -> Iterator[dict]:
        """Every item of a listing, page after page, until a short page."""
        page_no = 1
        while True:
            page = self.list_page(resource, page=page_no, **kwargs)
            yield from page.items
            if len(page.items) < page.max_results:
                return
            page_no += 1

    # -- jobs ---------------------------------------------------------------

    def submit_job(self, job: Mapping[str, Any]) -> dict:
        """POST a job document; returns the stored job as the server now has it."""
        created = self.request("POST", f"{defaults.API_PREFIX}/jobs", body=dict(job))
        return self.get_job(created["_id"])

    def submit_blender_render(self, job: BlenderRenderJob, target: Target) -> dict:
        """Validate and submit a blender-render job to ``target``."""
        return self.submit_job(job.document(target.project_id, target.manager_id))

    def get_job(self, job_id: str) -> dict:
        return self.request("GET", f"{defaults.API_PREFIX}/jobs/{check_id('job', job_id)}")

    def list_jobs(self, *, where: Mapping[str, Any] | None = None, sort: str | None = defaults.JOB_SORT,
                  page: int = 1, max_results: int = defaults.LIST_LIMIT) -> Page:
        """One page of the jobs this user may see, newest first by default."""
        return self.list_page("flamenco/jobs", where=where, sort=sort, page=page, max_results=max_results)

    def job_task_summary(self, job_id: str) -> TaskSummary:
        """Count the job's tasks per status (one server-side aggregation)."""
        counts = self.request("GET", f"{defaults.API_PREFIX}/jobs/{check_id('job', job_id)}/task-counts")
        return TaskSummary(dict(counts))

    def patch_job(self, job_id: str, op: str, **fields: Any) -> None:
        """Run a job PATCH operation (reference §5.2)."""
        self.request("PATCH", f"{defaults.API_PREFIX}/jobs/{check_id('job', job_id)}", body={"op": op, **fields})

    def set_job_status(self, job_id: str, status: str) -> None:
        self.patch_job(job_id, "set-job-status", status=status)

    def set_job_dependencies(self, job_id: str, depends_on: list[str]) -> dict:
        """Replace the jobs ``job_id`` waits for (until it starts); returns the job after the change.

        The server refuses unknown jobs, jobs of another project and cycles
        (:class:`RequestRejected` naming ``depends_on``; a cycle lists its jobs).
        """
        self.patch_job(job_id, "set-dependencies", depends_on=[check_id("depends_on", d) for d in depends_on])
        return self.get_job(job_id)

    def cancel_job(self, job_id: str) -> dict:
        """Ask for the job to be cancelled; returns the job after the request.

        Running tasks become ``cancel-requested`` until their Manager confirms,
        so the job may stay ``cancel-requested`` for a while (reference §3.4).
        The server decides whether the job's status allows cancelling.
        """
        self.set_job_status(job_id, JobStatus.CANCEL_REQUESTED)
        return self.get_job(job_id)

    def requeue_job(self, job_id: str) -> tuple[str, dict]:
        """Requeue what can be requeued; returns the operation used and the job after it.

        A finished, cancelled, failed or paused job is requeued whole
        (``set-job-status requeued``); a job that is still queued or active gets
        only its failed tasks requeued (``requeue-failed-tasks``), as the
        reference's dashboard offers (§3.3).
        """
        job = self.get_job(job_id)
        status = job["status"]
        if status in REQUEUE_JOB_STATUSES:
            self.set_job_status(job_id, JobStatus.REQUEUED)
            op = "set-job-status requeued"
        elif status in REQUEUE_FAILED_TASKS_JOB_STATUSES:
            self.patch_job(job_id, "requeue-failed-tasks")
            op = "requeue-failed-tasks"
        else:
            allowed = sorted(REQUEUE_JOB_STATUSES | REQUEUE_FAILED_TASKS_JOB_STATUSES)
            raise InvalidInput("job", f"job {job_id} is {status}; only jobs that are {', '.join(allowed)} "
                                      "can be requeued")
        return op, self.get_job(job_id)

    def watch_job(self, job_id: str, *, interval: float = defaults.WATCH_INTERVAL,
                  timeout: float | None = None) -> Iterator[Progress]:
        """Yield the job's progress every ``interval`` seconds until it stops progressing.

        Stops after the first poll that finds the job in a final status, or
        raises :class:`TimeoutError` after ``timeout`` seconds. Counting tasks
        reads every task of the job, so on a huge job a poll can take seconds:
        the pause between polls is never shorter than the last poll took,
        which keeps one watcher from keeping the server busy.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            started = time.monotonic()
            progress = Progress(self.get_job(job_id), self.job_task_summary(job_id))
            yield progress
            if progress.finished:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {progress.job['status']} after {timeout:g} s")
            time.sleep(max(interval, time.monotonic() - started))

    def wait_for_job(self, job_id: str, *, interval: float = defaults.WATCH_INTERVAL,
                     timeout: float | None = None) -> Progress:
        """Block until the job reaches a final status; returns its last progress."""
        progress = None
        for progress in self.watch_job(job_id, interval=interval, timeout=timeout):
            pass
        assert progress is not None  # watch_job yields at least once
        return progress

    # -- projects and managers ----------------------------------------------

    def list_projects(self) -> list[dict]:
        """The projects this user is a member of (all of them for an admin)."""
        return list(self.list_all("projects", projection={"name": 1, "url": 1}))

    def list_managers(self, project_id: str) -> list[dict]:
        """The Managers assigned to a project that this user may see."""
        return list(self.list_all("flamenco/managers", where={"projects": check_id("project", project_id)},
                                  projection={"name": 1, "projects": 1, "worker_task_types": 1}))

    def resolve_target(self, project: str | None = None, manager: str | None = None) -> Target:
        """The project and Manager to submit to.

        Each may be given as an id or a name (project: also its URL slug). When
        one is not given and exactly one candidate exists, that one is used;
        otherwise :class:`InvalidInput` lists the choices.
        """
        proj = choose("project", project, self.list_projects(), ("_id", "url", "name"))
        mngr = choose("manager", manager, self.list_managers(proj["_id"]), ("_id", "name"),
                      scope=f" of project {proj.get('name', proj['_id'])}")
        return Target(project_id=proj["_id"], project_name=proj.get("name", ""),
                      manager_id=mngr["_id"], manager_name=mngr.get("name", ""),
                      manager_task_types=tuple(mngr.get("worker_task_types") or ()))


def check_id(field: str, value: str) -> str:
    """``value`` if it is an ObjectId string, else :class:`InvalidInput` naming ``field``."""
    if not OBJECT_ID.fullmatch(str(value)):
        raise InvalidInput(field, f"{value!r} is not a valid id (24 hexadecimal characters)")
    return str(value)


def _describe_choices(docs: list[dict]) -> str:
    return ", ".join(f"{d.get('name', '?')} ({d['_id']})" for d in docs)


def choose(kind: str, wanted: str | None, candidates: list[dict], keys: tuple[str, ...], scope: str = "") -> dict:
    """Pick ``wanted`` from ``candidates`` by any of ``keys``, or the only one when nothing is wanted."""
    if wanted:
        for key in keys:
            found = [doc for doc in candidates if str(doc.get(key, "")) == wanted]
            if len(found) == 1:
                return found[0]
        if not candidates:
            raise InvalidInput(kind, f"{wanted!r} is not available: you have no {kind}s{scope}")
        raise InvalidInput(kind, f"no {kind} {wanted!r}{scope} is available to you; "
                                 f"choose one of: {_describe_choices(candidates)}")
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InvalidInput(kind, f"you have no {kind}s{scope}; ask an administrator to set one up")
    raise InvalidInput(kind, f"several {kind}s{scope} are available; choose one with --{kind} "
                             f"(or FLAMENCO_{kind.upper()}): {_describe_choices(candidates)}")
