"""PATCH operations on tasks (reference §5.2); status changes go through flamenco.status.

Authorised by the task's *project* (use rights), not by its Manager as in
Flamenco 2 (reference §14.4).
"""
from __future__ import annotations

import uuid

import flask
from pymongo.database import Database

from flamenco import clock, errors, status
from flamenco.auth import CurrentUser, scoping
from flamenco.extension import PatchOps
from flamenco.jobs.hooks import require_project_use
from flamenco.store import current_db
from flamenco.store.collections import MANAGERS, PROJECTS, TASKS


def task_filter() -> dict | None:
    """The query restricting tasks to what the caller may see (None: all)."""
    user = scoping.require_user()
    return scoping.project_scoped_filter(current_db(), user)


patch_ops = PatchOps("flamenco_tasks_patch", "/api/flamenco/tasks", TASKS, task_filter)
blueprint = patch_ops.blueprint


@patch_ops.op("set-task-status")
def set_task_status(task: dict, payload: dict, user: CurrentUser) -> None:
    require_project_use(user, task)
    new_status = payload.get("status")
    if not isinstance(new_status, str) or not new_status:
        errors.abort(422, "status is required", {"status": "must be a task status string"})
    with errors.status_errors():
        status.set_task_status(current_db(), task["_id"], new_status, actor=status.Actor.USER)


@patch_ops.op("requeue")
def requeue(task: dict, payload: dict, user: CurrentUser) -> None:
    """Queue the task and every task depending on it again."""
    require_project_use(user, task)
    with errors.status_errors():
        status.requeue_task_with_successors(current_db(), task["_id"], actor=status.Actor.USER)


def log_file_url(db: Database, task: dict) -> str:
    """Where the dashboard serves a task's uploaded log file."""
    project = db[PROJECTS].find_one({"_id": task["project"]}, {"url": 1}) or {}
    return f"/flamenco/{project.get('url', task['project'])}/tasks/{task['_id']}.log.gz"


@patch_ops.op("request-task-log-file")
def request_task_log_file(task: dict, payload: dict, user: CurrentUser) -> flask.Response | None:
    """Ask the task's Manager to upload the full log (reference §5.2).

    409 with ``Location`` when the log is already there and not forced: AJAX
    cannot intercept a 303, so the dashboard follows the Location itself.
    """
    require_project_use(user, task)
    force = payload.get("force_rerequest", False)
    if not isinstance(force, bool):
        errors.abort(422, "force_rerequest must be a boolean", {"force_rerequest": "must be true or false"})
    if task.get("status") not in status.LOG_UPLOAD_REQUESTABLE_TASK_STATES:
        errors.abort(400, f"cannot request the log of a {task.get('status')} task",
                     {"status": f"must be one of {', '.join(sorted(status.LOG_UPLOAD_REQUESTABLE_TASK_STATES))}"})
    db = current_db()
    if task.get("log_file") and not force:
        location = log_file_url(db, task)
        errors.abort(409, "the log file is already available", headers={"Location": location})
    if task.get("manager") is None:
        errors.abort(409, "the task has no Manager to upload its log", {"manager": "missing"})
    db[MANAGERS].update_one(
        {"_id": task["manager"]},
        {"$addToSet": {"upload_task_file_queue": {"job": task.get("job"), "task": task["_id"]}},
         "$set": {"_updated": clock.utcnow(), "_etag": uuid.uuid4().hex}},
    )
    return None
