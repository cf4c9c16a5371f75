"""PATCH operations on jobs (reference §5.2); status changes go through flamenco.status.

Construction (``construct``, ``recreate``) follows job POST: a job estimated
above ``INLINE_CONSTRUCTION_MAX_TASKS`` is built by Celery and the request
answers at once with the job ``under-construction``.

Every operation needs ``flamenco-use`` and use rights on the job's project
(members and admins); Manager accounts get 403. ``construct``, ``recreate``
and ``rna-overrides`` compile or change what the tasks run, so they also go
through ``flamenco.jobs.program_gate`` (403 naming the field).
"""
from __future__ import annotations

import logging

import flask

from flamenco import clock, errors, eventbus, status
from flamenco.auth import CurrentUser, scoping
from flamenco.extension import PatchOps
from flamenco.defaults import JOB_PRIORITY_MAX, JOB_PRIORITY_MIN
from flamenco.jobs import construction, dependencies, program_gate
from flamenco.jobs import rna_overrides as overrides
from flamenco.jobs.hooks import check_settings, dependency_errors, job_filter, require_project_use, settings_errors
from flamenco.store import current_db
from flamenco.store.collections import JOBS, TASKS
from flamenco_protocol.statuses import JobStatus

log = logging.getLogger(__name__)

patch_ops = PatchOps("flamenco_jobs_patch", "/api/flamenco/jobs", JOBS, job_filter)
blueprint = patch_ops.blueprint


@blueprint.route('/<regex("[a-f0-9]{24}"):object_id>/task-counts', methods=["GET"])
def task_counts(object_id: str) -> flask.Response:
    """``{status: number of tasks}`` of a visible job.

    One aggregation on the server instead of clients paging through every
    task document (60 s for a 5,000-task job on the local store, flamenco.store:
    scan) to draw a progress bar.
    """
    scoping.require_user()
    job = patch_ops.visible_document(object_id)
    return flask.jsonify(status.count_task_statuses(current_db(), job["_id"]))


@patch_ops.op("set-job-status")
def set_job_status(job: dict, payload: dict, user: CurrentUser) -> None:
    require_project_use(user, job)
    new_status = payload.get("status")
    if not isinstance(new_status, str) or not new_status:
        errors.abort(422, "status is required", {"status": "must be a job status string"})
    db = current_db()
    with errors.status_errors():
        status.set_job_status(db, job["_id"], new_status, actor=status.Actor.USER,
                              reason=f"Set to {new_status} by {user.display_name}")


@patch_ops.op("set-job-priority")
def set_job_priority(job: dict, payload: dict, user: CurrentUser) -> None:
    """Set the job's priority and every task's ``job_priority`` with one shared etag/timestamp."""
    require_project_use(user, job)
    priority = payload.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int):
        errors.abort(422, "priority must be an integer", {"priority": "must be an integer"})
    if not JOB_PRIORITY_MIN <= priority <= JOB_PRIORITY_MAX:
        errors.abort(422, "priority out of range",
                     {"priority": f"must be between {JOB_PRIORITY_MIN} and {JOB_PRIORITY_MAX}"})
    with errors.status_errors():
        status.check_priority_change(job.get("status", ""))
    if priority == job.get("priority"):
        return
    stamp = {"_updated": clock.utcnow(), "_etag": status.new_etag()}
    db = current_db()
    db[JOBS].update_one({"_id": job["_id"]}, {"$set": {"priority": priority, **stamp}})
    db[TASKS].update_many({"job": job["_id"]}, {"$set": {"job_priority": priority, **stamp}})
    eventbus.emit(db, eventbus.job_changed(job["_id"]))


@patch_ops.op("requeue-failed-tasks")
def requeue_failed_tasks(job: dict, payload: dict, user: CurrentUser) -> None:
    require_project_use(user, job)
    db = current_db()
    with errors.status_errors():
        status.requeue_failed_tasks(db, job["_id"], actor=status.Actor.USER)


@patch_ops.op("archive-job")
def archive_job(job: dict, payload: dict, user: CurrentUser) -> None:
    """Mark the job ``archiving`` and hand it to the Celery archival task."""
    require_project_use(user, job)
    from flamenco import celery_sender

    with dependency_errors():
        dependencies.check_not_awaited(current_db(), job, "archived")
    with errors.status_errors():
        celery_sender.start_archiving(flask.current_app, current_db(), job, reason=f"Archived by {user.display_name}")


@patch_ops.op("set-dependencies")
def set_dependencies(job: dict, payload: dict, user: CurrentUser) -> None:
    """Replace the jobs this job waits for (``depends_on``) until it starts; a cycle is a 409 naming its jobs."""
    require_project_use(user, job)
    if "depends_on" not in payload:
        errors.abort(422, "depends_on is required", {"depends_on": "a list of job ids (may be empty)"})
    with dependency_errors(), errors.status_errors():
        dependencies.set_dependencies(current_db(), job, payload["depends_on"])


@patch_ops.op("construct")
def construct(job: dict, payload: dict, user: CurrentUser) -> None:
    """Compile a ``waiting-for-files`` job, optionally merging new ``settings`` first; big ones in Celery."""
    require_project_use(user, job)
    if job.get("status") != JobStatus.WAITING_FOR_FILES:
        errors.abort(409, f"a {job.get('status')} job cannot be constructed",
                     {"status": "must be waiting-for-files"})
    new_settings = payload.get("settings", {})
    if not isinstance(new_settings, dict):
        errors.abort(422, "settings must be an object", {"settings": "must be a JSON object"})
    job = {**job, "settings": {**(job.get("settings") or {}), **new_settings}}
    program_gate.require_may_run_programs(user, job)
    # Validate as the compiler will see it: everything required must be there now.
    check_settings({**job, "status": JobStatus.UNDER_CONSTRUCTION})
    db = current_db()
    with errors.status_errors():
        construction.construct_stored_job(flask.current_app, db, job, new_settings=new_settings,
                                          reason=f"Construction initiated by {user.display_name}")


@patch_ops.op("recreate")
def recreate(job: dict, payload: dict, user: CurrentUser) -> None:
    """Delete the tasks (and logs) of a finished job and compile it again; big ones in Celery.

    Only from ``status.RECREATABLE_JOB_STATES`` (409 otherwise): nothing of
    the job may be running when its tasks go.
    """
    require_project_use(user, job)
    program_gate.require_may_run_programs(user, job)
    db = current_db()
    with errors.status_errors():
        construction.recreate_job(flask.current_app, db, job, reason=f"Recreated by {user.display_name}")


@patch_ops.op("rna-overrides")
def rna_overrides(job: dict, payload: dict, user: CurrentUser) -> None:
    """Store new RNA override lines and (re)queue the job's ``rna-overrides`` task (reference §4.8).

    Blender job types only (422 on ``job_type``); lines that are not a list
    of strings or not valid Python are a 422 on ``rna_overrides``. The job
    status is left alone: the user requeues the renders that should use them.
    """
    require_project_use(user, job)
    program_gate.require_may_run_programs(user, rna_overrides=payload.get("rna_overrides"))
    db = current_db()
    with errors.status_errors(), settings_errors():
        overrides.apply_rna_overrides(db, job["_id"], payload.get("rna_overrides"))
