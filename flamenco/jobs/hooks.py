"""Eve hooks of ``flamenco_jobs``: scoping of reads; checks on submission and deletion.

Submission (reference §3.7, fixing §14.3 and §14.17): the caller must be able
to use the project, the job's Manager must be assigned to that project, the
job's ``user`` is the caller, only callers with ``flamenco-run-programs`` may
choose the programs it runs (403, ``flamenco.jobs.program_gate``), and the
settings must suit the job type (422 with field and reason), and the jobs it
waits for (``depends_on``) must be jobs of its project (``flamenco.jobs.dependencies``). Compilation
then runs in ``flamenco.jobs.construction``: in the request, or in Celery for
a big job (the 201 answer then says ``under-construction``).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import eve
import eve.utils
import flask
from bson import ObjectId
from pymongo.database import Database

from flamenco import errors, eventbus, job_compilers, projects
from flamenco.auth import CurrentUser, roles, scoping
from flamenco.jobs import construction, construction_runs, dependencies, program_gate
from flamenco.store import current_db
from flamenco.store.collections import JOBS, MANAGERS
from flamenco_protocol.statuses import JobStatus

# Statuses a client may submit a job in; `queued` is accepted and means "compile now".
SUBMIT_STATUSES = frozenset({JobStatus.UNDER_CONSTRUCTION, JobStatus.QUEUED, JobStatus.WAITING_FOR_FILES})
# A job may be deleted only when nothing of it can be running on a Manager.
DELETABLE_JOB_STATES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.FAILED,
                                  JobStatus.CONSTRUCTION_FAILED, JobStatus.PAUSED, JobStatus.WAITING_FOR_FILES,
                                  JobStatus.WAITING_FOR_JOBS, JobStatus.ARCHIVED})


def job_filter() -> dict | None:
    """The query restricting jobs to what the caller may see (None: all)."""
    user = scoping.require_user()
    return scoping.project_scoped_filter(current_db(), user)


def on_pre_get(request: flask.Request, lookup: dict) -> None:
    scoping.restrict(lookup, job_filter())


def on_pre_delete(request: flask.Request, lookup: dict) -> None:
    """An invisible job is 404 (Eve would answer 204 and do nothing)."""
    query = {"_id": errors.parse_object_id(lookup.get("_id"), "_id")}
    scoping.restrict(query, job_filter())
    if current_db()[JOBS].find_one(query, {"_id": 1}) is None:
        errors.abort(404, "job not found")


def require_job_user(user: CurrentUser) -> None:
    """People with ``flamenco-use`` may change jobs; Manager accounts may not."""
    if user.is_manager:
        errors.abort(403, "a Manager cannot submit or change jobs")
    scoping.require_cap(user, roles.CAP_USE)


def require_project_use(user: CurrentUser, doc: dict) -> None:
    """The caller may change this job or task: a person with ``flamenco-use``
    who is a member or admin of its project (PATCH operations on both)."""
    require_job_user(user)
    if not projects.may_use(current_db(), user, doc["project"]):
        errors.abort(403, "Denied Flamenco use on this project")


def check_submission(db: Database, user: CurrentUser, job: dict) -> None:
    """Abort unless ``user`` may submit ``job`` as it is; normalise ``user`` and ``status``."""
    if not projects.may_use(db, user, job["project"]):
        errors.abort(403, "you may not submit jobs to this project", {"project": "not a member with use rights"})
    manager = db[MANAGERS].find_one({"_id": job["manager"]}, {"projects": 1})
    if manager is None or job["project"] not in (manager.get("projects") or []):
        errors.abort(422, "the Manager is not assigned to this project",
                     {"manager": "must be a Manager assigned to the job's project"})
    if job.get("user", user.user_id) != user.user_id:
        errors.abort(422, "a job must be submitted by its own user", {"user": "must be the submitting user"})
    job["user"] = user.user_id
    if job.get("status") not in SUBMIT_STATUSES:
        errors.abort(422, "invalid initial job status",
                     {"status": "may only be 'waiting-for-files' (or omitted) on submission"})
    if job["status"] != JobStatus.WAITING_FOR_FILES:
        job["status"] = JobStatus.UNDER_CONSTRUCTION
    program_gate.require_may_run_programs(user, job)
    check_settings(job)
    if "depends_on" in job:
        with dependency_errors():
            job["depends_on"] = dependencies.parse_depends_on(job["depends_on"])
            dependencies.check_dependencies(db, job["project"], job["depends_on"])


def check_settings(job: dict) -> None:
    """422 naming the offending field when the job's settings cannot be stored or compiled."""
    errors.check_storable_keys(job.get("settings"), "settings")
    with settings_errors():
        construction.validate_settings(job)


@contextlib.contextmanager
def settings_errors() -> Iterator[None]:
    """Turn a compiler's ``JobSettingsError`` (bad settings, RNA overrides, job type) into a 422 naming the field."""
    try:
        yield
    except job_compilers.JobSettingsError as ex:
        errors.abort(422, f"invalid job: {ex}", {ex.field: ex.reason})


@contextlib.contextmanager
def dependency_errors() -> Iterator[None]:
    """Turn a refused ``depends_on`` (unknown job, other project, cycle) into a 4xx naming the field."""
    try:
        yield
    except dependencies.DependencyError as ex:
        errors.abort(ex.code, f"invalid dependencies: {ex}", {ex.field: ex.reason})


def on_insert(items: list[dict]) -> None:
    user = scoping.require_user()
    require_job_user(user)
    db = current_db()
    for job in items:
        check_submission(db, user, job)


def on_inserted(items: list[dict]) -> None:
    """Construct each submitted job: big ones in Celery (the answer says ``under-construction``), others now."""
    user = scoping.require_user()
    db = current_db()
    app = flask.current_app
    for job in items:
        with eventbus.batch(db):
            eventbus.emit(db, eventbus.job_changed(job["_id"], status=job["status"]))
            _construct_submitted(app, db, job, f"Job submitted by {user.display_name}")


def _construct_submitted(app: flask.Flask, db: Database, job: dict, reason: str) -> None:
    if job["status"] == JobStatus.WAITING_FOR_FILES:
        return
    if construction.constructs_in_background(app.config, job):
        construction.enqueue_construction(app, job["_id"], reason)
    else:
        construction.construct_inline(db, job["_id"], reason=reason)


def on_post_post(request: flask.Request, payload: flask.Response) -> None:
    """Add each created job's ``status`` to the 201 answer and refresh its ``_etag``/``_updated``.

    Eve builds the answer before ``on_inserted`` constructs the job, so it
    would show the stored etag (construction changes it, failing the next
    If-Match) and no status: the client could not tell a queued job from
    one still under construction in Celery.
    """
    if payload.status_code != 201:
        return
    body = payload.get_json()
    db = current_db()
    for item in body.get("_items", [body]):
        job = db[JOBS].find_one({"_id": ObjectId(item["_id"])}, {"status": 1, "_etag": 1, "_updated": 1})
        if job is not None:
            item.update(status=job["status"], _etag=job["_etag"], _updated=eve.utils.date_to_str(job["_updated"]))
    payload.set_data(flask.json.dumps(body))


def on_delete_item(job: dict) -> None:
    user = scoping.require_user()
    require_job_user(user)
    if not projects.may_use(current_db(), user, job["project"]):
        errors.abort(403, "you may not change jobs of this project")
    if job.get("status") not in DELETABLE_JOB_STATES:
        errors.abort(409, f"a {job.get('status')} job cannot be deleted",
                     {"status": f"must be one of {', '.join(sorted(DELETABLE_JOB_STATES))}"})
    with dependency_errors():
        dependencies.check_not_awaited(current_db(), job, "deleted")


def on_deleted_item(job: dict) -> None:
    """Remove the job's tasks and their logs too (Flamenco 2 left them, §14.14)."""
    construction_runs.delete_job_tasks(current_db(), job["_id"])
    eventbus.emit(current_db(), eventbus.job_deleted(job))


def setup_app(app: eve.Eve) -> None:
    app.on_pre_GET_flamenco_jobs += on_pre_get
    app.on_pre_DELETE_flamenco_jobs += on_pre_delete
    app.on_insert_flamenco_jobs += on_insert
    app.on_inserted_flamenco_jobs += on_inserted
    app.on_post_POST_flamenco_jobs += on_post_post
    app.on_delete_item_flamenco_jobs += on_delete_item
    app.on_deleted_item_flamenco_jobs += on_deleted_item
