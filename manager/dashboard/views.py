"""Dashboard routes (reference A.2.3): page, JSON report, worker actions, logs, kick."""
from __future__ import annotations

import datetime as dt

from bson import ObjectId
from flask import Blueprint, Response, jsonify, redirect, render_template, request, send_file

from flamenco_manager import assignment, blocklist, sleep_schedule, sync_requests, task_logs, tasks, workers
from flamenco_manager import db as dbmod
from flamenco_manager.api.auth import context
from flamenco_manager.api.errors import BadRequest, error_response
from flamenco_manager.dashboard.auth import require_human
from flamenco_manager.dashboard.status_report import status_report

blueprint = Blueprint("dashboard", __name__, template_folder="templates")

# Log downloads by these clients always get the whole file.
FULL_LOG_AGENTS = ("curl/", "Wget/")
WORKER_ACTIONS = ("set-status", "shutdown", "ack-timeout", "forget-worker", "forget-blacklist-line")


@blueprint.errorhandler(BadRequest)
def bad_request(ex: BadRequest) -> Response:
    return error_response(ex.code, ex.message, ex.field)


def _object_id(value: str, field: str) -> ObjectId:
    oid = tasks.parse_id(value)
    if oid is None:
        raise BadRequest(f"not a valid id: {value!r}", field=field)
    return oid


def _ago(moment: dt.datetime | str | None) -> str:
    """"3m ago" for the page; the exact time is in the tooltip."""
    if not moment:
        return "never"
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    seconds = int((context().now() - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


@blueprint.get("/")
@require_human
def index() -> str:
    report = status_report(context())
    return render_template("dashboard.html", report=report, ago=_ago,
                           latest_output=sync_requests.latest_output(context()))


@blueprint.get("/as-json")
@require_human
def as_json() -> Response:
    response = jsonify(status_report(context()))
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.post("/worker-action/<worker_id>")
@require_human
def worker_action(worker_id: str) -> Response:
    ctx = context()
    oid = _object_id(worker_id, "worker_id")
    worker = ctx.db[dbmod.WORKERS].find_one({"_id": oid})
    if worker is None:
        return error_response(404, f"worker {worker_id} not found")
    action = request.form.get("action", "")
    lazy = request.form.get("lazy", "false").lower() == "true"
    if action == "set-status":
        try:
            workers.request_status_change(ctx, oid, request.form.get("status", ""), lazy)
        except workers.StatusRequestError as ex:
            raise BadRequest(str(ex), field="status") from None
    elif action == "shutdown":
        workers.request_status_change(ctx, oid, "shutdown", lazy)
    elif action == "ack-timeout":
        if not workers.acknowledge_timeout(ctx, oid):
            raise BadRequest("the worker is not in status timeout", field="action")
    elif action == "forget-worker":
        assignment.return_worker_tasks(ctx, worker, "worker was forgotten on the dashboard")
        workers.forget(ctx, oid)
    elif action == "forget-blacklist-line":
        blocklist.forget(ctx, oid, _object_id(request.form.get("job_id", ""), "job_id"),
                         request.form.get("task_type", ""))
    else:
        raise BadRequest(f"unknown action {action!r}; use one of {', '.join(WORKER_ACTIONS)}", field="action")
    if request.form.get("from_page"):
        return redirect("/", code=303)
    return Response(status=204)


@blueprint.post("/set-sleep-schedule/<worker_id>")
@require_human
def set_sleep_schedule(worker_id: str) -> Response:
    if not request.is_json:
        return error_response(406, "expected Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    try:
        found = sleep_schedule.set_schedule(context(), _object_id(worker_id, "worker_id"), body)
    except sleep_schedule.ScheduleError as ex:
        raise BadRequest(ex.message, field=ex.field) from None
    if not found:
        return error_response(404, f"worker {worker_id} not found")
    return Response(status=204)


@blueprint.route("/kick", methods=["GET", "POST"])
@require_human
def kick() -> Response:
    sync_requests.kick_download(context())
    if request.form.get("from_page"):
        return redirect("/", code=303)
    return Response("Kicked task downloader", mimetype="text/plain")


@blueprint.get("/logfile/<job_id>/<task_id>")
@require_human
def logfile(job_id: str, task_id: str) -> Response:
    ctx = context()
    path = task_logs.log_path(ctx.config.task_logs_path, str(_object_id(job_id, "job_id")),
                              str(_object_id(task_id, "task_id")))
    if not path.exists():
        return error_response(404, "unable to stat task log file")
    if request.headers.get("User-Agent", "").startswith(FULL_LOG_AGENTS):
        return send_file(path, mimetype="text/plain")
    return Response(task_logs.excerpt(path), mimetype="text/plain")


@blueprint.get("/tasks/<task_id>/redir-to-server")
def redirect_to_server(task_id: str) -> Response:
    base = context().config.flamenco.rstrip("/")
    return redirect(f"{base}/flamenco/tasks/{_object_id(task_id, 'task_id')}", code=307)
