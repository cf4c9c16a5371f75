"""Task pages: commands, activity, failed-by workers, and the first page of the log (more: task_log_views)."""
from __future__ import annotations

from pathlib import Path

import flask

from flamenco import status
from flamenco.task_logs import reading
from flamenco.web import access, actions, defaults, store, task_index
from flamenco.store import current_db
from flamenco.store.collections import JOBS, TASKS

bp = flask.Blueprint("tasks", __name__, url_prefix="/p/<project_url>/tasks")

JOB_HEADER_PROJECTION = {"name": 1, "status": 1, "job_type": 1}


def load_task(acc: access.ProjectAccess, task_id: str) -> dict:
    """The task with this id in this project, or a 404 (queried by ``_id`` alone, see load_job)."""
    task = current_db()[TASKS].find_one({"_id": store.object_id_or_404(task_id)})
    if task is None or task.get("project") != acc.project["_id"]:
        flask.abort(404, description="This project has no such task (its job may have been archived).")
    return task


def uploaded_log(task: dict) -> Path | None:
    """The complete log file the Manager uploaded for the task, if any."""
    return actions.stored_file((task.get("log_file") or {}).get("file_path"))


def last_page(task: dict, max_chars: int = defaults.LOG_PAGE_MAX_CHARS) -> reading.LogPage:
    """The end of the most complete log the server holds for the task (see flamenco.task_logs.reading)."""
    path = uploaded_log(task)
    if path is not None:
        return reading.file_page(path, None, max_chars)
    page = reading.last_chunks(current_db(), task["_id"], max_chars)
    if page is not None:
        return page
    return reading.LogPage(source=reading.SOURCE_TAIL, text=task.get("log") or "")


def task_context(acc: access.ProjectAccess, task: dict) -> dict:
    job = current_db()[JOBS].find_one({"_id": task.get("job")}, JOB_HEADER_PROJECTION) or {}
    parents = task.get("parents") or []
    parent_names = {}
    if parents:
        rows = task_index.rows_for_job(current_db(), store.cache(), task["job"])
        parent_names = {r["_id"]: r.get("name") for r in rows if r["_id"] in set(parents)}
    return {
        "acc": acc, "project": acc.project, "task": task, "job": job,
        "parent_names": parent_names,
        "full_log_available": acc.may_view_logs and uploaded_log(task) is not None,
        "may_request_log": acc.may_change and task.get("status") in status.LOG_UPLOAD_REQUESTABLE_TASK_STATES,
        "task_actions": [a for a in actions.TASK_ACTIONS if a.applies_to(task.get("status"))],
    }


@bp.route("/<task_id>")
@access.login_required
def task_view(project_url: str, task_id: str) -> flask.typing.ResponseReturnValue:
    acc = access.project_access(project_url)
    task = load_task(acc, task_id)
    return flask.render_template("task.html", **task_context(acc, task), log_poll_ms=defaults.LOG_POLL_MS,
                                 log_page=last_page(task) if acc.may_view_logs else None)


@bp.route("/<task_id>/live")
@access.login_required
def task_live(project_url: str, task_id: str) -> flask.typing.ResponseReturnValue:
    """The task's details alone, re-fetched by the page on live updates."""
    acc = access.project_access(project_url)
    return flask.render_template("_task_live.html", **task_context(acc, load_task(acc, task_id)))


@bp.route("/<task_id>/log.gz")
@access.login_required
def task_log_file(project_url: str, task_id: str) -> flask.typing.ResponseReturnValue:
    """The complete (gzipped) log the Manager uploaded for this task."""
    acc = access.project_access(project_url)
    if not acc.may_view_logs:
        raise access.AccessDenied("Your account may not view task logs.")
    task = load_task(acc, task_id)
    path = uploaded_log(task)
    if path is None:
        flask.abort(404, description="The Manager has not uploaded this task's full log.")
    return flask.send_file(path, as_attachment=True, download_name=f"task-{task['_id']}.log.gz",
                           mimetype="application/gzip")


@bp.route("/<task_id>/actions", methods=["POST"])
@access.login_required
def task_action(project_url: str, task_id: str) -> flask.typing.ResponseReturnValue:
    """Cancel or requeue one task; JSON ``{done, skipped}`` like the job actions."""
    acc = access.project_access(project_url)
    access.require_change(acc)
    task = load_task(acc, task_id)
    action, _jobs = actions.request_fields()
    return flask.jsonify(actions.apply_task_action(current_db(), acc, action, task))
