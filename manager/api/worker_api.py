"""Worker endpoints, wire-compatible with Flamenco Manager 2.x (reference A.2.2).

Handlers stay thin: they check input, call the plain functions in
``workers``, ``scheduler``, ``assignment``, ``blocklist`` and ``update_queue``
(which change the in-memory state and record it in the journal), then await
the group commit that makes the change durable before answering.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from flamenco_manager import assignment, blocklist, executables, scheduler, server_settings, sync_requests
from flamenco_manager import tasks, workers
from flamenco_manager import variables as variables_mod
from flamenco_manager.api import validation as v
from flamenco_manager.api.auth import WORKER_KEY, context, registration_allowed, remote_address, require_worker, user_agent
from flamenco_manager.api.errors import BadRequest, error_response
from flamenco_manager.context import ManagerContext
from flamenco_manager.api.throttle import RefusalThrottle
from flamenco_manager.update_queue import queue_update
from flamenco_protocol import requirements
from flamenco_protocol import wire
from flamenco_protocol.statuses import (ACKNOWLEDGEABLE_WORKER_STATUSES, FINAL_TASK_STATUSES,
                                         RUNNABLE_REQUESTED_STATUSES, WORKER_REPORTED_TASK_STATUSES, TaskStatus)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# Shortest worker secret accepted: Flamenco 2 workers generate 64 characters.
MIN_SECRET_LENGTH = 16
# bcrypt uses (and bcrypt>=5 accepts) at most 72 bytes of a secret.
MAX_SECRET_BYTES = 72
# Progress fields and the name the Server reads (reference C.3: the worker
# says current_command_idx, the Server current_command_index).
PROGRESS_FIELDS = {wire.TASK_PROGRESS_PERCENTAGE: wire.TASK_PROGRESS_PERCENTAGE,
                   wire.CURRENT_COMMAND_IDX: wire.CURRENT_COMMAND_INDEX,
                   wire.CURRENT_COMMAND_INDEX: wire.CURRENT_COMMAND_INDEX,
                   wire.COMMAND_PROGRESS_PERCENTAGE: wire.COMMAND_PROGRESS_PERCENTAGE}
# Upper bounds of the progress fields (percentages; a command index).
PROGRESS_MAX = {wire.TASK_PROGRESS_PERCENTAGE: 100, wire.COMMAND_PROGRESS_PERCENTAGE: 100,
                wire.CURRENT_COMMAND_INDEX: 100_000}
# A timing longer than a year is a bug on the worker's side, not a measurement.
MAX_SECONDS = 366 * 86400
# Refused registrations per client address (guessing the registration secret), per app.
REGISTRATION_THROTTLE = web.AppKey("registration_throttle", RefusalThrottle)


def no_content() -> web.Response:
    return web.Response(status=204)


def _task_or_404(request: web.Request, task_id: str) -> dict:
    oid = tasks.parse_id(task_id)
    if oid is None:
        raise BadRequest(f"Invalid ObjectID used for task: {task_id!r}", field="task_id", code=404)
    task = context(request).state.tasks.get(oid)
    if task is None:
        raise BadRequest(f"Task {task_id} is unknown.", code=404)
    return task


def _seen(request: web.Request, worker: dict, set_awake: bool, also: dict | None = None) -> None:
    workers.seen(context(request), worker, address=remote_address(request), software=user_agent(request),
                 set_awake=set_awake, also=also)


@routes.post("/register-worker")
async def register_worker(request: web.Request) -> web.Response:
    ctx = context(request)
    address = remote_address(request)
    throttle = request.app[REGISTRATION_THROTTLE]
    wait = throttle.blocked_for(address)
    if wait:
        return error_response(429, "too many refused registrations from this address; try again later",
                              headers={"Retry-After": str(int(wait) + 1)})
    refusal = registration_allowed(request, server_settings.registration_secret(ctx))
    if refusal:
        throttle.refused(address)
        return error_response(403, refusal)
    body = await v.json_body(request)
    secret = v.required(body, wire.SECRET, str)
    if not MIN_SECRET_LENGTH <= len(secret.encode()) <= MAX_SECRET_BYTES:
        raise BadRequest(f"must be {MIN_SECRET_LENGTH} to {MAX_SECRET_BYTES} bytes long", field=wire.SECRET)
    platform = v.required(body, wire.PLATFORM, str)
    task_types = v.string_list(body, wire.SUPPORTED_TASK_TYPES) or []
    nickname = v.optional(body, wire.NICKNAME, str) or remote_address(request)
    tags, resources = _capabilities(body)
    hashed = await asyncio.get_running_loop().run_in_executor(None, workers.hash_secret, secret)
    worker = workers.register(ctx, hashed_secret=hashed, platform=platform, task_types=task_types,
                              nickname=nickname, address=remote_address(request), software=user_agent(request),
                              tags=tags or [], resources=resources)
    # The worker just chose this secret: its first authenticated call needs no bcrypt check
    # (one per worker; a thousand workers signing on at once spent a second of CPU on them).
    workers.remember_verified(worker, secret)
    sync_requests.request_update_notification(ctx)
    await ctx.journal.commit()
    log.info("registered worker %s (%s)", worker["_id"], nickname)
    return web.json_response(workers.to_wire(worker))


def _capabilities(body: dict) -> tuple[list[str] | None, dict | None]:
    """The optional ``tags`` and ``resources`` of registration and sign-on (issue 15), checked;
    None for what the worker did not send (every Flamenco 2 worker)."""
    try:
        tags = requirements.check_tags(body[wire.TAGS]) if body.get(wire.TAGS) is not None else None
        return tags, requirements.parse_resources(body.get(wire.RESOURCES))
    except requirements.RequirementsError as ex:
        raise BadRequest(ex.reason, field=ex.field) from None


@routes.post("/sign-on")
@require_worker
async def sign_on(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await v.json_body(request, required=False)
    task_types = v.string_list(body, wire.SUPPORTED_TASK_TYPES)
    nickname = v.optional(body, wire.NICKNAME, str)
    tags, resources = _capabilities(body)
    if workers.sign_on(ctx, request[WORKER_KEY], nickname=nickname, task_types=task_types,
                       address=remote_address(request), software=user_agent(request), tags=tags,
                       resources=resources):
        sync_requests.request_update_notification(ctx)
    await ctx.journal.commit()
    return no_content()


@routes.post("/sign-off")
@require_worker
async def sign_off(request: web.Request) -> web.Response:
    ctx = context(request)
    assignment.return_worker_tasks(ctx, request[WORKER_KEY], "worker signed off")
    workers.mark_offline(ctx, request[WORKER_KEY])
    await ctx.journal.commit()
    return no_content()


@require_worker
async def task(request: web.Request) -> web.StreamResponse:
    """``/task``: POST as Flamenco 2 workers send it, GET as its documentation says."""
    ctx = context(request)
    worker = request[WORKER_KEY]
    _seen(request, worker, set_awake=True)
    if worker.get("status_requested"):
        await ctx.journal.commit()
        return _status_requested_response(worker)
    if ctx.engine.lost_lock.is_set():
        return error_response(503, "this manager process no longer owns dispatch", headers={"Retry-After": "10"})
    try:
        sent = _claim_runnable_task(ctx, worker)
    except scheduler.NoTaskTypes:
        return error_response(406, "You do not support any task types.")
    if sent is None:
        sync_requests.kick_download(ctx, throttle=ctx.config.download_task_recheck_throttle)
        await ctx.journal.commit()
        return no_content()
    await ctx.journal.commit()
    return web.json_response(sent)


def _claim_runnable_task(ctx: ManagerContext, worker: dict) -> dict | None:
    """The next task for the worker as sent to it (variables expanded); tasks that would start a program
    this manager does not allow fail here instead (``executables``)."""
    while (claimed := scheduler.claim_next_task(ctx, worker)) is not None:
        sent = tasks.to_wire(claimed)
        sent["commands"] = variables_mod.expand_commands(sent.get("commands") or [], ctx.variables,
                                                         worker.get("platform", ""))
        refusal = executables.refused_program(ctx, sent["commands"], worker.get("platform", ""))
        if refusal is None:
            if not ctx.config.blender_autoexec:
                executables.disable_autoexec(sent["commands"])
            return sent
        message = f"Manager refused to run this task: {refusal}"
        log.warning("task %s: %s", claimed["_id"], refusal)
        queue_update(ctx, claimed, {wire.TASK_STATUS: TaskStatus.FAILED, wire.ACTIVITY: message},
                     log=assignment.log_line(ctx, message))
    return None


routes.post("/task")(task)
routes.get("/task", allow_head=False)(task)


def _status_requested_response(worker: dict) -> web.Response:
    return web.json_response({wire.STATUS_REQUESTED: worker["status_requested"]}, status=423)


@routes.post("/tasks/{task_id}/update")
@require_worker
async def task_update(request: web.Request) -> web.Response:
    ctx = context(request)
    worker = request[WORKER_KEY]
    body = await v.json_body(request)
    update = _worker_update(body)
    log_text = v.optional(body, wire.LOG, str) or ""
    task_id = request.match_info["task_id"]
    task = _task_or_404(request, task_id)
    if task.get("worker_id") != worker["_id"]:
        return error_response(409, f"Task {task_id} is not assigned to you.")
    if not _accepts_worker_status(task, update.get(wire.TASK_STATUS)):
        update.pop(wire.TASK_STATUS, None)
        update.pop(wire.ACTIVITY, None)
    if update.get(wire.TASK_STATUS) == TaskStatus.FAILED and task.get("status") == TaskStatus.ACTIVE:
        status, failed_by = blocklist.handle_failure(ctx, worker, task)
        update[wire.TASK_STATUS] = status
        update[wire.FAILED_BY_WORKERS] = failed_by
    update["worker"] = workers.identifier(worker)
    queue_update(ctx, task, update, log=log_text,
                 extra_set={"last_worker_ping": ctx.now(), "worker_id": worker["_id"]})
    _seen(request, worker, set_awake=False, also=workers.current_task_fields(ctx, task))
    await ctx.journal.commit()
    return no_content()


def _worker_update(body: dict) -> dict:
    """The TaskUpdate fields a worker may send, checked."""
    update: dict = {}
    status = v.optional(body, wire.TASK_STATUS, str)
    if status is not None:
        if status not in WORKER_REPORTED_TASK_STATUSES:
            raise BadRequest(f"must be one of {', '.join(WORKER_REPORTED_TASK_STATUSES)}", field=wire.TASK_STATUS)
        update[wire.TASK_STATUS] = status
    activity = v.optional(body, wire.ACTIVITY, str)
    if activity is not None:
        update[wire.ACTIVITY] = activity
    for key, name in PROGRESS_FIELDS.items():
        value = v.optional(body, key, int)
        if value is not None:
            if not 0 <= value <= PROGRESS_MAX[name]:
                raise BadRequest(f"must be between 0 and {PROGRESS_MAX[name]}", field=key)
            update[name] = value
    metrics = v.optional(body, wire.METRICS, dict)
    if metrics is not None and metrics.get(wire.TIMING) is not None:
        update[wire.METRICS] = {wire.TIMING: _timing(metrics[wire.TIMING])}
    return update


def _timing(timing: object) -> dict[str, float]:
    """``metrics.timing``: step name -> seconds; names must be storable as document keys."""
    field = "metrics.timing"
    if not isinstance(timing, dict):
        raise BadRequest("must be an object of name: seconds", field=field)
    out = {}
    for name, seconds in timing.items():
        if not name or "." in name or name.startswith("$"):
            raise BadRequest(f"step name {name!r} may not be empty, contain '.' or start with '$'", field=field)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < MAX_SECONDS:
            raise BadRequest(f"{name}: must be a number of seconds", field=field)
        out[name] = float(seconds)
    return out


def _accepts_worker_status(task: dict, status: str | None) -> bool:
    """A worker's status counts for an active task, and ends a cancel-requested one."""
    if task.get("status") == TaskStatus.ACTIVE:
        return True
    return task.get("status") == TaskStatus.CANCEL_REQUESTED and status in FINAL_TASK_STATUSES


@routes.post("/tasks/{task_id}/return")
@require_worker
async def task_return(request: web.Request) -> web.Response:
    ctx = context(request)
    task_id = request.match_info["task_id"]
    task = _task_or_404(request, task_id)
    if task.get("worker_id") not in (None, request[WORKER_KEY]["_id"]):
        return error_response(409, f"Task {task_id} is assigned to another worker.")
    assignment.return_task(ctx, request[WORKER_KEY], task, "returned by worker")
    await ctx.journal.commit()
    return no_content()


@routes.get("/may-i-run/{task_id}")
@require_worker
async def may_i_run(request: web.Request) -> web.Response:
    ctx = context(request)
    worker = request[WORKER_KEY]
    task_id = request.match_info["task_id"]
    answer: dict = {wire.MAY_KEEP_RUNNING: False}
    requested = worker.get("status_requested") or ""
    if requested:
        answer[wire.STATUS_REQUESTED] = requested
    oid = tasks.parse_id(task_id)
    task = ctx.state.tasks.get(oid) if oid is not None else None
    also = {}
    if task is None:
        answer[wire.REASON] = f"unable to find task {task_id}"
    elif task.get("worker_id") not in (None, worker["_id"]):
        answer[wire.REASON] = "task reassigned to another worker"
    elif task.get("status") != TaskStatus.ACTIVE:
        answer[wire.REASON] = f"task is in non-runnable status {task.get('status')!r}"
    elif requested and requested not in RUNNABLE_REQUESTED_STATUSES and not worker.get("lazy_status_request"):
        answer[wire.REASON] = f"worker status change to {requested} requested"
    else:
        answer[wire.MAY_KEEP_RUNNING] = True
        workers.task_pinged(ctx, worker, task)
        also = workers.current_task_fields(ctx, task)
    _seen(request, worker, set_awake=True, also=also)
    await ctx.journal.commit()
    return web.json_response(answer)


@routes.get("/status-change")
@require_worker
async def status_change(request: web.Request) -> web.Response:
    worker = request[WORKER_KEY]
    _seen(request, worker, set_awake=False)
    if worker.get("status_requested"):
        return web.json_response({wire.STATUS_REQUESTED: worker["status_requested"]})
    return no_content()


@routes.post("/ack-status-change/{ack_status}")
@require_worker
async def ack_status_change(request: web.Request) -> web.Response:
    ack_status = request.match_info["ack_status"]
    if ack_status not in ACKNOWLEDGEABLE_WORKER_STATUSES:
        raise BadRequest(f"unknown status; use one of {', '.join(ACKNOWLEDGEABLE_WORKER_STATUSES)}", field="status")
    worker = request[WORKER_KEY]
    requested = worker.get("status_requested")
    if requested and requested != ack_status:
        log.warning("worker %s acknowledged %s but %s was requested", worker["_id"], ack_status, requested)
    workers.acknowledge_status(context(request), worker, ack_status)
    await context(request).journal.commit()
    return no_content()


@routes.post("/output-produced")
@require_worker
async def output_produced(request: web.Request) -> web.Response:
    body = await v.json_body(request)
    paths = v.string_list(body, wire.PATHS)
    if not paths:
        raise BadRequest("at least one path is required", field=wire.PATHS, code=422)
    ctx, worker = context(request), request[WORKER_KEY]
    nickname = worker.get("nickname", "")
    sync_requests.record_output(ctx, paths, nickname)
    # The worker's current job: Flamenco 2 workers name no task here (reference A.2.2).
    ctx.last_rendered.report(ctx, worker.get("current_job"), paths, nickname)
    await ctx.journal.commit()
    return no_content()
