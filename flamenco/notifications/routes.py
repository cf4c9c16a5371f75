"""REST API of notifications, per project; project admins only.

``/api/flamenco/projects/<project_id>/``:

- ``webhooks``: GET lists (never a secret), POST ``{"url": ...}`` creates and
  answers 201 with the ``secret``, the only time it is shown;
- ``webhooks/<id>``: DELETE; ``webhooks/<id>/test``: POST queues a ``ping``;
- ``notification-settings``: GET, PATCH ``{"email_recipients": [...],
  "task_failures": bool}``; ``notification-settings/test-email``: POST;
- ``notification-deliveries?page=N``: the delivery log, newest first.

Invalid input is a 422 naming the field; see :mod:`.access` for 403/404.
"""
from __future__ import annotations

from typing import Any

import flask
from bson import ObjectId

from flamenco import clock, errors
from flamenco.auth import scoping
from flamenco.extension import json_payload
from flamenco.notifications import access, defaults, deliveries, dispatch, targets, validation
from flamenco.store import current_db

blueprint = flask.Blueprint("notifications_api", __name__, url_prefix="/api/flamenco/projects/<project_id>")


def _admin_project(project_id: str) -> dict:
    """The project if the caller administers it; else 401/400/403/404 in the API's shape."""
    user = scoping.require_user()
    oid = errors.parse_object_id(project_id, "project_id")
    try:
        return access.check_admin(current_db(), user, access.project_by_id(current_db(), oid))
    except access.NotAllowed as ex:
        errors.abort(ex.code, str(ex))


def _invalid(ex: validation.InvalidSetting) -> Any:
    errors.abort(422, str(ex), {ex.field: ex.reason})


def _only_fields(payload: dict, allowed: set[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        errors.abort(422, f"unknown field {unknown[0]!r}", {unknown[0]: f"unknown; send only {', '.join(sorted(allowed))}"})


def _queued(delivery_ids: list[ObjectId]) -> flask.Response:
    found = current_db()[defaults.DELIVERIES].find({"_id": {"$in": delivery_ids}}, {"state": 1})
    body = {"deliveries": [{"_id": str(d["_id"]), "state": d["state"]} for d in found]}
    return flask.make_response(flask.jsonify(body), 202)


@blueprint.get("/webhooks")
def list_webhooks(project_id: str) -> flask.typing.ResponseReturnValue:
    project = _admin_project(project_id)
    return {"_items": [targets.public_webhook(w) for w in targets.list_webhooks(current_db(), project["_id"])]}


@blueprint.post("/webhooks")
def create_webhook(project_id: str) -> flask.typing.ResponseReturnValue:
    project = _admin_project(project_id)
    payload = json_payload()
    _only_fields(payload, {"url"})
    cfg = flask.current_app.config
    try:
        doc, secret = targets.create_webhook(current_db(), project["_id"], payload.get("url"),
                                             created_by=scoping.require_user().user_id, secret_key=cfg["SECRET_KEY"],
                                             allowed_hosts=cfg["WEBHOOK_ALLOWED_HOSTS"], now=clock.utcnow())
    except validation.InvalidSetting as ex:
        _invalid(ex)
    return {**targets.public_webhook(doc), "secret": secret}, 201


def _webhook(project: dict, webhook_id: str) -> dict:
    oid = errors.parse_object_id(webhook_id, "webhook_id")
    webhook = targets.find_webhook(current_db(), project["_id"], oid)
    if webhook is None:
        errors.abort(404, "no such webhook in this project")
    return webhook


@blueprint.delete("/webhooks/<webhook_id>")
def delete_webhook(project_id: str, webhook_id: str) -> flask.typing.ResponseReturnValue:
    project = _admin_project(project_id)
    targets.delete_webhook(current_db(), project["_id"], _webhook(project, webhook_id)["_id"])
    return "", 204


@blueprint.post("/webhooks/<webhook_id>/test")
def test_webhook(project_id: str, webhook_id: str) -> flask.typing.ResponseReturnValue:
    project = _admin_project(project_id)
    webhook = _webhook(project, webhook_id)
    return _queued(dispatch.queue_ping(current_db(), project, dispatch.app_enqueue(flask.current_app), clock.utcnow(),
                                       webhooks=[webhook]))


@blueprint.get("/notification-settings")
def get_settings(project_id: str) -> flask.typing.ResponseReturnValue:
    project = _admin_project(project_id)
    return targets.project_settings(current_db(), project["_id"]).as_json()


@blueprint.patch("/notification-settings")
def patch_settings(project_id: str) -> flask.typing.ResponseReturnValue:
    project = _admin_project(project_id)
    try:
        settings = targets.save_settings(current_db(), project["_id"], json_payload(), clock.utcnow())
    except validation.InvalidSetting as ex:
        _invalid(ex)
    return settings.as_json()


@blueprint.post("/notification-settings/test-email")
def test_email(project_id: str) -> flask.typing.ResponseReturnValue:
    project = _admin_project(project_id)
    if not flask.current_app.config["SMTP_HOST"]:
        errors.abort(409, "e-mail is off: the server has no SMTP_HOST", {"email_recipients": "no SMTP server"})
    recipients = targets.project_settings(current_db(), project["_id"]).email_recipients
    if not recipients:
        errors.abort(409, "the project has no e-mail recipients", {"email_recipients": "empty"})
    return _queued(dispatch.queue_ping(current_db(), project, dispatch.app_enqueue(flask.current_app), clock.utcnow(),
                                       recipients=recipients))


def parse_page(raw: str | None) -> int:
    """The ``page`` query argument (1 when absent), or a 400 naming it."""
    if raw is None:
        return 1
    if not raw.isdecimal() or not 1 <= int(raw) <= 1_000_000:
        errors.abort(400, "invalid page", {"page": "must be a whole number from 1"})
    return int(raw)


@blueprint.get("/notification-deliveries")
def delivery_log(project_id: str) -> flask.typing.ResponseReturnValue:
    project = _admin_project(project_id)
    page = parse_page(flask.request.args.get("page"))
    items, total = deliveries.log_page(current_db(), project["_id"], page)
    return {"_items": [deliveries.public_delivery(d) for d in items],
            "_meta": {"page": page, "max_results": defaults.LOG_PAGE_SIZE, "total": total}}
