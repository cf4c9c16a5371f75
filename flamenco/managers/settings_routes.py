"""REST API of the Manager settings an admin changes on the server (``flamenco.managers.settings``).

- ``GET  /api/flamenco/managers/<id>/settings``: the variables the Manager
  reports and the change waiting for it (never the secret).
- ``PUT  /api/flamenco/managers/<id>/settings/variables/<name>`` with
  ``{"direction": "oneway"|"twoway", "values": {"linux": "/...", ...}}``, and
  ``DELETE`` of the same URL.
- ``POST /api/flamenco/managers/<id>/settings/registration-secret``: 201 with
  the new secret, the only time it is shown.

Owners of the Manager and admins only: 404 when the caller may not see the
Manager, 403 when they may see but not change it, 4xx naming the field for
bad input.
"""
from __future__ import annotations

from typing import Any

import flask

from flamenco import errors
from flamenco.auth import scoping
from flamenco.extension import json_payload
from flamenco.managers import settings, user_is_owner
from flamenco.managers.hooks import manager_filter
from flamenco.store import current_db
from flamenco.store.collections import MANAGERS

blueprint = flask.Blueprint("manager_settings_api", __name__, url_prefix="/api/flamenco/managers")


def visible_manager(manager_id: str) -> dict:
    """The Manager if the caller may see it, else a 404 (so ids of others' Managers do not leak)."""
    query: dict = {"_id": errors.parse_object_id(manager_id, "manager_id")}
    scoping.restrict(query, manager_filter())
    manager = current_db()[MANAGERS].find_one(query)
    if manager is None:
        errors.abort(404, f"there is no Manager {manager_id} that you may see")
    return manager


def owned_manager(manager_id: str) -> dict:
    manager = visible_manager(manager_id)
    if not user_is_owner(scoping.require_user(), manager):
        errors.abort(403, "only an owner of this Manager or an admin may change its settings")
    return manager


def settings_view(manager: dict) -> dict[str, Any]:
    """What the settings page shows of a Manager; the pending secret only as a flag."""
    change = settings.pending(manager)
    reported = manager.get("variables") or {}
    return {
        "_id": str(manager["_id"]), "name": manager.get("name", ""),
        "variables": {k: v for k, v in reported.items() if k not in settings.PROGRAM_VARIABLES},
        "program_variables": {k: v for k, v in reported.items() if k in settings.PROGRAM_VARIABLES},
        "desired_variables": settings.desired_variables(manager),
        "pending_version": change.get("version", 0),
        "applied_version": manager.get(settings.APPLIED_FIELD) or 0,
        "waiting_for_manager": settings.waiting_for_manager(manager),
        "secret_pending": bool(change.get("secret")),
    }


def _answer(body: dict, code: int = 200) -> flask.Response:
    response = flask.jsonify(body)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response


def _abort(error: settings.SettingsError) -> None:
    errors.abort(error.code, error.reason, {error.field: error.reason})


@blueprint.get("/<manager_id>/settings")
def get_settings(manager_id: str) -> flask.typing.ResponseReturnValue:
    scoping.require_user()
    return _answer(settings_view(visible_manager(manager_id)))


@blueprint.put("/<manager_id>/settings/variables/<name>")
def put_variable(manager_id: str, name: str) -> flask.typing.ResponseReturnValue:
    manager = owned_manager(manager_id)
    try:
        spec = settings.parse_variable(json_payload())
        updated = settings.set_variable(current_db(), manager, name, spec)
    except settings.SettingsError as ex:
        _abort(ex)
    return _answer(settings_view(updated))


@blueprint.delete("/<manager_id>/settings/variables/<name>")
def delete_variable(manager_id: str, name: str) -> flask.typing.ResponseReturnValue:
    manager = owned_manager(manager_id)
    try:
        updated = settings.remove_variable(current_db(), manager, name)
    except settings.SettingsError as ex:
        _abort(ex)
    return _answer(settings_view(updated))


@blueprint.post("/<manager_id>/settings/registration-secret")
def rotate_registration_secret(manager_id: str) -> flask.typing.ResponseReturnValue:
    """A new worker registration secret; the answer is the only place it is ever shown."""
    manager = owned_manager(manager_id)
    secret = settings.rotate_secret(current_db(), manager, flask.current_app.config["SECRET_KEY"])
    return _answer({"worker_registration_secret": secret,
                    "message": "Give this secret to new workers; it is shown only now. The Manager accepts it "
                               "(and no longer the old one) after its next sync."}, 201)
