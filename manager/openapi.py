"""The Manager's OpenAPI 3 description of its worker API, served at ``/openapi.json``.

Built from :data:`ENDPOINTS`, a declarative table of the worker endpoints
(reference v2-manager-worker.md A.2.2) in the style of Flamenco 3's
``flamenco-openapi.yaml``. Only endpoints the app really routes are
published, so the description and the app cannot drift apart silently.
"""
from __future__ import annotations

import dataclasses
import re

from aiohttp import web

from flamenco_protocol.openapi import (OPENAPI_VERSION, PathTable, error_response, error_schema, json_content,
                                       path_shape, response)
from flamenco_protocol.statuses import WORKER_REPORTED_TASK_STATUSES

TITLE = "Flamenco Manager worker API"
API_VERSION = "2.0"
DESCRIPTION_PATH = "/openapi.json"
DESCRIPTION_KEY = web.AppKey("flamenco_manager_openapi", dict)

_OBJECT_ID = {"type": "string", "pattern": "^[a-f0-9]{24}$"}
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_WORKER = {"type": "object", "properties": {
    "_id": _OBJECT_ID, "nickname": {"type": "string"}, "address": {"type": "string"},
    "status": {"type": "string"}, "platform": {"type": "string"}, "supported_task_types": _STRINGS,
    "software": {"type": "string"}, "status_requested": {"type": "string"},
    "lazy_status_request": {"type": "boolean"}, "time_cost": {"type": "integer"}},
    "required": ["_id"]}
# Optional on registration and sign-on (issue 15; flamenco_protocol.requirements): what jobs may require.
_CAPABILITIES = {
    "tags": {"type": "array", "maxItems": 32, "items": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"}},
    "resources": {"type": "object", "required": ["cpu_cores", "ram_bytes"], "properties": {
        "cpu_cores": {"type": "integer", "minimum": 0}, "ram_bytes": {"type": "integer", "minimum": 0},
        "gpus": {"type": "array", "items": {"type": "object", "required": ["memory_bytes"], "properties": {
            "model": {"type": "string"}, "memory_bytes": {"type": "integer", "minimum": 0}}}}}},
}
_TASK = {"type": "object", "properties": {
    "_id": _OBJECT_ID, "job": {"type": "string"}, "name": {"type": "string"}, "status": {"type": "string"},
    "priority": {"type": "integer"}, "job_priority": {"type": "integer"}, "job_type": {"type": "string"},
    "task_type": {"type": "string"},
    "commands": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "settings": {"type": "object"}}, "required": ["name"]}}},
    "required": ["_id", "commands"]}
_STATUS_REQUESTED = {"type": "object", "properties": {"status_requested": {"type": "string"}},
                     "required": ["status_requested"]}
_TASK_UPDATE = {"type": "object", "properties": {
    "task_status": {"type": "string", "enum": [s.value for s in WORKER_REPORTED_TASK_STATUSES]},
    "activity": {"type": "string"}, "log": {"type": "string"},
    "task_progress_percentage": {"type": "integer", "minimum": 0, "maximum": 100},
    "current_command_idx": {"type": "integer", "minimum": 0},
    "command_progress_percentage": {"type": "integer", "minimum": 0, "maximum": 100},
    "metrics": {"type": "object", "properties": {"timing": {"type": "object"}}}}}
_AUTH_FAILED = {"401": error_response("Worker id and secret required (HTTP Basic)")}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One operation of the worker API."""

    method: str
    path: str  # OpenAPI form, e.g. /tasks/{task_id}/update
    operation_id: str
    summary: str
    responses: dict
    request: dict | None = None  # JSON body schema
    request_required: bool = True
    # "worker" = HTTP Basic worker id/secret; "registration" = optional PSK JWT; "public" = none.
    auth: str = "worker"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("post", "/register-worker", "register_worker", "Register a new worker with a self-chosen secret",
             {"200": response("The new worker (never the secret)", _WORKER),
              "400": error_response("Bad JSON or a missing/invalid field"),
              "403": error_response("Registration token missing or invalid")},
             request={"type": "object", "properties": {
                 "secret": {"type": "string", "minLength": 16, "maxLength": 72},
                 "platform": {"type": "string", "minLength": 1}, "supported_task_types": _STRINGS,
                 "nickname": {"type": "string"}, **_CAPABILITIES}, "required": ["secret", "platform"]},
             auth="registration"),
    Endpoint("post", "/sign-on", "sign_on", "Sign on: update nickname and task types, become 'starting'",
             {"204": response("Signed on"), "400": error_response("Invalid field"), **_AUTH_FAILED},
             request={"type": "object", "properties": {"supported_task_types": _STRINGS,
                                                       "nickname": {"type": "string"}, **_CAPABILITIES}},
             request_required=False),
    Endpoint("post", "/sign-off", "sign_off", "Sign off: return running tasks, go offline",
             {"204": response("Signed off"), **_AUTH_FAILED}),
    Endpoint("post", "/task", "get_task", "Ask for a task to run",
             {"200": response("A task, variables expanded for the worker's platform", _TASK),
              "204": response("No task for this worker now"),
              "406": error_response("The worker supports no task types"),
              "423": response("A status change is pending", _STATUS_REQUESTED), **_AUTH_FAILED}),
    Endpoint("get", "/task", "get_task_get", "Ask for a task to run (GET, as documented by Flamenco 2)",
             {"200": response("A task", _TASK), "204": response("No task for this worker now"),
              "406": error_response("The worker supports no task types"),
              "423": response("A status change is pending", _STATUS_REQUESTED), **_AUTH_FAILED}),
    Endpoint("post", "/tasks/{task_id}/update", "task_update", "Report progress, status, log of a task",
             {"204": response("Queued for the Server"), "400": error_response("Invalid field"),
              "404": error_response("Unknown task"), "409": error_response("Task assigned to another worker"),
              **_AUTH_FAILED},
             request=_TASK_UPDATE),
    Endpoint("post", "/tasks/{task_id}/return", "task_return", "Give a task back to the queue",
             {"204": response("Returned (or nothing to do)"), "404": error_response("Unknown task"),
              **_AUTH_FAILED}),
    Endpoint("get", "/may-i-run/{task_id}", "may_i_run", "May this worker keep running the task?",
             {"200": response("The answer", {"type": "object", "properties": {
                 "may_keep_running": {"type": "boolean"}, "reason": {"type": "string"},
                 "status_requested": {"type": "string"}}, "required": ["may_keep_running"]}),
              **_AUTH_FAILED}),
    Endpoint("get", "/status-change", "status_change", "Is a status change requested for this worker?",
             {"200": response("The requested status", _STATUS_REQUESTED), "204": response("None"),
              **_AUTH_FAILED}),
    Endpoint("post", "/ack-status-change/{ack_status}", "ack_status_change", "Acknowledge a requested status",
             {"204": response("Acknowledged"), "400": error_response("Unknown status"), **_AUTH_FAILED}),
    Endpoint("post", "/output-produced", "output_produced", "Files the worker produced (latest-image preview)",
             {"204": response("Noted"), "400": error_response("Bad JSON"),
              "422": error_response("No paths given"), **_AUTH_FAILED},
             request={"type": "object", "properties": {"paths": _STRINGS}, "required": ["paths"]}),
    Endpoint("get", "/metrics", "metrics", "Prometheus metrics (dashboard password)",
             {"200": {"description": "Prometheus text exposition",
                      "content": {"text/plain": {"schema": {"type": "string"}}}},
              "401": error_response("Dashboard password required"),
              "403": error_response("The manager has no dashboard_password")},
             auth="dashboard"),
    Endpoint("get", DESCRIPTION_PATH, "openapi", "This description",
             {"200": response("OpenAPI 3 description", {"type": "object"})}, auth="public"),
)
# How each kind of endpoint authenticates, as OpenAPI security requirements.
_SECURITY: dict[str, list[dict]] = {"worker": [{"workerAuth": []}], "registration": [{}, {"registrationToken": []}],
             "dashboard": [{"dashboardPassword": []}], "public": []}


def operation(endpoint: Endpoint) -> dict:
    out: dict = {"operationId": endpoint.operation_id, "summary": endpoint.summary,
                 "security": _SECURITY[endpoint.auth],
                 "responses": endpoint.responses | {"default": error_response("Error")}}
    if endpoint.request is not None:
        out["requestBody"] = {"required": endpoint.request_required, "content": json_content(endpoint.request)}
    return out


def build_description(app: web.Application) -> dict:
    """The description of the :data:`ENDPOINTS` that ``app`` routes."""
    table = PathTable()
    by_shape = {(e.method, path_shape(e.path)): e for e in ENDPOINTS}
    routed = sorted({(route.resource.canonical, route.method.lower()) for route in app.router.routes()
                     if route.resource is not None})
    for path, method in routed:
        endpoint = by_shape.get((method, path_shape(path)))
        if endpoint is not None:
            # PathTable reads werkzeug-style placeholders: aiohttp's {name} -> <name>.
            table.add(re.sub(r"\{([^}]*)\}", r"<\1>", path), method, operation(endpoint))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": API_VERSION,
                 "description": "What workers call; wire-compatible with Flamenco Manager 2.x."},
        "servers": [{"url": "/"}],
        "paths": table.paths,
        "components": {
            "securitySchemes": {
                "workerAuth": {"type": "http", "scheme": "basic",
                               "description": "Worker id as user name, its registration secret as password"},
                "registrationToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                      "description": "HS256 JWT signed with worker_registration_secret, "
                                                     "when the manager has one"},
                "dashboardPassword": {"type": "http", "scheme": "basic",
                                      "description": "Any user name, dashboard_password as password"},
            },
            "schemas": {"Error": error_schema()},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """The description; public, since it holds no data."""
    cached = request.app[DESCRIPTION_KEY]
    if not cached:  # built on first use, once every route is registered
        cached.update(build_description(request.app))
    return web.json_response(cached)


def init_app(app: web.Application) -> None:
    app[DESCRIPTION_KEY] = {}
    app.router.add_get(DESCRIPTION_PATH, openapi_json, allow_head=False)
