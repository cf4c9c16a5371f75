"""Dashboard routes (reference A.2.3): page, JSON report, worker actions, logs, kick."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2
from aiohttp import web
from bson import ObjectId

from flamenco_manager import assignment, blocklist, sleep_schedule, sync_requests, task_logs, tasks, workers
from flamenco_manager.api.auth import context
from flamenco_manager.api.errors import BadRequest, error_response
from flamenco_manager.api.validation import json_body
from flamenco_manager.dashboard.auth import csrf_token, require_csrf, require_human
from flamenco_manager.dashboard.status_report import status_report
from flamenco_protocol.statuses import WorkerStatus

routes = web.RouteTableDef()
_templates = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                autoescape=True)

# Log downloads by these clients always get the whole file.
FULL_LOG_AGENTS = ("curl/", "Wget/")
WORKER_ACTIONS = ("set-status", "shutdown", "ack-timeout", "forget-worker", "forget-blacklist-line")


def _object_id(value: str, field: str) -> ObjectId:
    oid = tasks.parse_id(value)
    if oid is None:
        raise BadRequest(f"not a valid id: {value!r}", field=field)
    return oid


def _ago_from(now: dt.datetime) -> Callable[[dt.datetime | str | None], str]:
    def ago(moment: dt.datetime | str | None) -> str:
        """"3m ago" for the page; the exact time is in the tooltip."""
        if not moment:
            return "never"
        if isinstance(moment, str):
            moment = dt.datetime.fromisoformat(moment)
        seconds = int((now - moment).total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return f"{seconds // size}{unit} ago"
        return f"{max(seconds, 0)}s ago"
    return ago


@routes.get("/")
@require_human
async def index(request: web.Request) -> web.Response:
    ctx = context(request)
    html = _templates.get_template("dashboard.html").render(
        report=status_report(ctx), ago=_ago_from(ctx.now()), latest_output=sync_requests.latest_output(ctx),
        last_rendered=ctx.last_rendered.latest, csrf_token=csrf_token(request))
    return web.Response(text=html, content_type="text/html")


@routes.get("/last-rendered.jpg")
@require_human
async def last_rendered_image(request: web.Request) -> web.Response:
    """The newest preview image of any job (the page links it with a stamp, so it may be cached)."""
    latest = context(request).last_rendered.latest
    if latest is None:
        return error_response(404, "no image was rendered since this manager started")
    return web.Response(body=latest.jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})


@routes.get("/as-json")
@require_human
async def as_json(request: web.Request) -> web.Response:
    report = {**status_report(context(request)), "csrf_token": csrf_token(request)}
    return web.json_response(report, headers={"Cache-Control": "no-cache"})


def _done(form: Mapping[str, Any], response: web.Response | None = None) -> web.Response:
    if form.get("from_page"):
        raise web.HTTPSeeOther("/")
    return response or web.Response(status=204)


@routes.post("/worker-action/{worker_id}")
@require_human
@require_csrf
async def worker_action(request: web.Request) -> web.Response:
    ctx = context(request)
    worker_id = request.match_info["worker_id"]
    oid = _object_id(worker_id, "worker_id")
    worker = ctx.state.workers.get(oid)
    if worker is None:
        return error_response(404, f"worker {worker_id} not found")
    form = await request.post()
    action = str(form.get("action", ""))
    lazy = str(form.get("lazy", "false")).lower() == "true"
    if action == "set-status":
        try:
            workers.request_status_change(ctx, oid, str(form.get("status", "")), lazy)
        except workers.StatusRequestError as ex:
            raise BadRequest(str(ex), field="status") from None
    elif action == "shutdown":
        workers.request_status_change(ctx, oid, WorkerStatus.SHUTDOWN, lazy)
    elif action == "ack-timeout":
        if not workers.acknowledge_timeout(ctx, oid):
            raise BadRequest("the worker is not in status timeout", field="action")
    elif action == "forget-worker":
        assignment.return_worker_tasks(ctx, worker, "worker was forgotten on the dashboard")
        workers.forget(ctx, oid)
    elif action == "forget-blacklist-line":
        blocklist.forget(ctx, oid, _object_id(str(form.get("job_id", "")), "job_id"), str(form.get("task_type", "")))
    else:
        raise BadRequest(f"unknown action {action!r}; use one of {', '.join(WORKER_ACTIONS)}", field="action")
    await ctx.journal.commit()
    return _done(form)


@routes.post("/set-sleep-schedule/{worker_id}")
@require_human
@require_csrf
async def set_sleep_schedule(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return error_response(406, "expected Content-Type: application/json")
    body = await json_body(request)
    ctx = context(request)
    worker_id = request.match_info["worker_id"]
    try:
        found = sleep_schedule.set_schedule(ctx, _object_id(worker_id, "worker_id"), body)
    except sleep_schedule.ScheduleError as ex:
        raise BadRequest(ex.message, field=ex.field) from None
    if not found:
        return error_response(404, f"worker {worker_id} not found")
    await ctx.journal.commit()
    return web.Response(status=204)


@routes.post("/kick")
@require_human
@require_csrf
async def kick(request: web.Request) -> web.Response:
    """Download tasks now (POST only: a GET must change nothing)."""
    sync_requests.kick_download(context(request))
    form = await request.post()
    return _done(form, web.Response(text="Kicked task downloader", content_type="text/plain"))


@routes.get("/logfile/{job_id}/{task_id}")
@require_human
async def logfile(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    path = task_logs.log_path(ctx.config.task_logs_path, str(_object_id(request.match_info["job_id"], "job_id")),
                              str(_object_id(request.match_info["task_id"], "task_id")))
    if not path.exists():
        return error_response(404, "unable to stat task log file")
    if request.headers.get("User-Agent", "").startswith(FULL_LOG_AGENTS):
        return web.FileResponse(path, headers={"Content-Type": "text/plain"})
    return web.Response(body=task_logs.excerpt(path), content_type="text/plain")


@routes.get("/tasks/{task_id}/redir-to-server")
async def redirect_to_server(request: web.Request) -> web.Response:
    base = context(request).config.flamenco.rstrip("/")
    raise web.HTTPTemporaryRedirect(f"{base}/flamenco/tasks/{_object_id(request.match_info['task_id'], 'task_id')}")
