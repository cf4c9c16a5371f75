"""HTTP routes of the Manager API and the linking protocol (reference §5.3, §5.4).

Thin: parse the request, call the module that does the work, shape the answer.
"""
from __future__ import annotations

import flask
from werkzeug.exceptions import BadRequest

from flamenco import clock, errors
from flamenco.extension import json_payload
from flamenco.manager_api import (auth, defaults, depsgraph, last_rendered, linking, notifications, storage,
                                  task_logs, task_updates, wire)
from flamenco.managers import settings as manager_settings
from flamenco.workers import actions as worker_actions
from flamenco.store import current_db

blueprint = flask.Blueprint("manager_api", __name__)
MANAGER_URL = "/api/flamenco/managers/<manager_id>"
LINK_URL = "/api/flamenco/managers/link"


@blueprint.errorhandler(linking.LinkingError)
def _linking_error(error: linking.LinkingError) -> flask.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return errors.error_response(error.code, str(error), {error.field: str(error)} if error.field else None,
                                 headers=headers)


@blueprint.errorhandler(task_logs.LogUploadError)
def _log_upload_error(error: task_logs.LogUploadError) -> flask.Response:
    return errors.error_response(error.code, str(error), {error.field: str(error)} if error.field else None)


@blueprint.errorhandler(last_rendered.LastRenderedError)
def _last_rendered_error(error: last_rendered.LastRenderedError) -> flask.Response:
    return errors.error_response(error.code, str(error), {error.field: str(error)} if error.field else None)


@blueprint.errorhandler(notifications.NotificationError)
def _notification_error(error: notifications.NotificationError) -> flask.Response:
    return errors.error_response(400, error.reason, {error.field: error.reason})


def _notification_payload() -> dict:
    if not flask.request.get_data():
        errors.abort(400, "no JSON payload received")
    return json_payload()


@blueprint.route(f"{MANAGER_URL}/startup", methods=["POST"])
@auth.manager_api_call
def startup(manager: dict) -> flask.typing.ResponseReturnValue:
    """The Manager (re)started: store its URL, variables and Worker statistics."""
    notifications.store_notification(current_db(), manager, _notification_payload())
    return "", 204


@blueprint.route(f"{MANAGER_URL}/update", methods=["POST"])
@auth.manager_api_call
def update(manager: dict) -> flask.typing.ResponseReturnValue:
    """The Manager's Workers or settings changed."""
    notifications.store_notification(current_db(), manager, _notification_payload())
    return "", 204


@blueprint.route(f"{MANAGER_URL}/depsgraph", methods=["GET"])
@auth.manager_api_call
def get_depsgraph(manager: dict) -> flask.typing.ResponseReturnValue:
    """Tasks for the Manager: all of them, or those changed since the header's time."""
    raw_since = flask.request.headers.get(defaults.IF_UPDATED_SINCE_HEADER)
    since = None
    if raw_since:
        try:
            since = wire.parse_timestamp(raw_since)
        except wire.BadTimestamp as ex:
            errors.abort(400, str(ex), {defaults.IF_UPDATED_SINCE_HEADER: "must be an ISO-8601 date"})
    graph = depsgraph.pull_depsgraph(current_db(), manager["_id"], since,
                                     page=flask.current_app.config["DEPSGRAPH_CLAIM_PAGE_TASKS"])
    if graph.tasks is None:
        return "", 204
    if not graph.tasks and since is not None:
        return "", 304
    resp = wire.response({"depsgraph": graph.tasks}, flask.request)
    if graph.last_updated is not None:
        resp.headers[defaults.LAST_UPDATED_HEADER] = wire.iso8601(graph.last_updated)
        resp.headers[defaults.LAST_UPDATED_FORMAT_HEADER] = defaults.LAST_UPDATED_FORMAT
    if graph.more:
        resp.headers[defaults.MORE_TASKS_HEADER] = "true"
    return resp


def _task_update_list() -> list:
    """The batch's JSON list; no body and ``null`` are an empty batch.

    A Flamenco 2 Manager with nothing queued still pushes, to learn which
    tasks to cancel, and sends its empty Go slice as ``null``.
    """
    if not flask.request.get_data().strip():
        return []
    try:
        updates = flask.request.get_json(force=True)
    except BadRequest:
        errors.abort(400, "request body is not valid JSON")
    if updates is None:
        return []
    if not isinstance(updates, list):
        errors.abort(400, "request body must be a JSON list of task updates")
    return updates


@blueprint.route(f"{MANAGER_URL}/task-update-batch", methods=["POST"])
@auth.manager_api_call
def task_update_batch(manager: dict) -> flask.typing.ResponseReturnValue:
    """Apply queued task updates; answer with what was handled and what to cancel.

    Worker actions queued on the server ride along as ``worker_actions``
    (a field Flamenco 2 Managers ignore) until the Manager acknowledges them,
    and so do settings changed on the server (``manager_settings``).
    """
    result = task_updates.handle_batch(current_db(), manager, _task_update_list())
    body = result.response()
    pending_actions = worker_actions.wire_pending(manager, clock.utcnow())
    if pending_actions:
        body["worker_actions"] = pending_actions
    pending_settings = manager_settings.wire_pending(manager, flask.current_app.config["SECRET_KEY"])
    if pending_settings:
        body["manager_settings"] = pending_settings
    return flask.Response(wire.to_json(body), mimetype="application/json")


@blueprint.route(f"{MANAGER_URL}/attach-task-log/<task_id>", methods=["POST"])
@auth.manager_api_call
def attach_task_log(manager: dict, task_id: str) -> flask.typing.ResponseReturnValue:
    """Store an uploaded gzipped task log: 201 when new, 200 when replaced."""
    from flamenco.tasks.patch import log_file_url

    task_oid = errors.parse_object_id(task_id, "task_id")
    data = task_logs.read_upload(flask.request.files.get("logfile"))
    root = storage.storage_dir(flask.current_app.config)
    stored = task_logs.attach_task_log(current_db(), manager, task_oid, data, root)
    resp = flask.jsonify({"_message": "ok"})
    resp.status_code = 201 if stored.created else 200
    resp.headers["Location"] = log_file_url(current_db(), {"_id": task_oid, **stored.task})
    return resp


@blueprint.route(f"{MANAGER_URL}/last-rendered/<job_id>", methods=["POST"])
@auth.manager_api_call
def upload_last_rendered(manager: dict, job_id: str) -> flask.typing.ResponseReturnValue:
    """Store the newest preview JPEG of one of this Manager's jobs (not part of Flamenco 2's API)."""
    job_oid = errors.parse_object_id(job_id, "job_id")
    data = last_rendered.read_upload(flask.request.files.get(last_rendered.FIELD))
    root = storage.storage_dir(flask.current_app.config)
    last_rendered.store_image(current_db(), manager, job_oid, data, root, clock.utcnow())
    return "", 204


@blueprint.route(f"{LINK_URL}/exchange", methods=["POST"])
def link_exchange() -> flask.typing.ResponseReturnValue:
    """Step 1 of linking: keep the Manager's secret, return its identifier."""
    payload = flask.request.get_json(force=True, silent=True)
    key = payload.get("key") if isinstance(payload, dict) else None
    identifier = linking.exchange_key(current_db(), key, flask.request.remote_addr or "")
    return flask.jsonify({"identifier": str(identifier)})


@blueprint.route(f"{LINK_URL}/reset-token", methods=["POST"])
def link_reset_token() -> flask.typing.ResponseReturnValue:
    """Last step of linking: a new token for the Manager that proved it holds the secret."""
    result = linking.reset_token(current_db(), json_payload())
    expire = result["expire_time"]
    return flask.jsonify({"token": result["token"], "expire_time": wire.rfc1123(expire) if expire else None})
