"""Startup and update notifications: what a Manager tells about itself (reference §5.3, §6.6).

The Manager sends its URL, variables, number of Workers and the task types
those Workers support. Settings version 1 carries ``path_replacement`` too;
version 2 folds it into two-way variables, so a v2 notification removes it.

Two optional fields come from this project's Managers only (Flamenco 2
Managers send neither, and then nothing about them changes): ``workers``
(with ``workers_reported_at``), the Manager's whole worker list for the
registry (``flamenco.workers``), and ``worker_actions_done``, the ids of
the worker actions it applied, which stop being pending; and
``manager_settings_version``, the version of the settings changed on the
server that it runs (``flamenco.managers.settings``).
"""
from __future__ import annotations

import uuid
from typing import Any

from pymongo.database import Database

from flamenco import clock
from flamenco.manager_api.keys import storable_key_reason
from flamenco.managers import settings as manager_settings
from flamenco.store.collections import MANAGERS
from flamenco.workers import actions as worker_actions
from flamenco.workers import registry as worker_registry
from flamenco.workers import report as worker_report

# Settings versions a Manager may announce in ``_meta.version``.
SETTINGS_VERSIONS = (1, 2)


class NotificationError(ValueError):
    """A notification that cannot be stored; ``field`` says which part is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _require(payload: dict, key: str, kind: type | tuple[type, ...], kind_name: str) -> Any:
    if key not in payload:
        raise NotificationError(key, f"Missing key {key!r}")
    value = payload[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise NotificationError(key, f"must be {kind_name}")
    reason = storable_key_reason(value, key)
    if reason:
        raise NotificationError(key, reason)
    return value


def settings_version(payload: dict) -> int:
    """``_meta.version`` (1 when absent, as Managers before 2.5 send no ``_meta``)."""
    meta = payload.get("_meta") or {}
    if not isinstance(meta, dict):
        raise NotificationError("_meta", "must be an object")
    version = meta.get("version", 1)
    if version not in SETTINGS_VERSIONS or isinstance(version, bool):
        raise NotificationError("_meta.version", f"must be one of {SETTINGS_VERSIONS}")
    return version


def notification_update(payload: dict) -> dict:
    """The MongoDB update that stores ``payload`` on the Manager document."""
    version = settings_version(payload)
    url = _require(payload, "manager_url", str, "a string")
    variables = _require(payload, "variables", dict, "an object")
    nr_of_workers = _require(payload, "nr_of_workers", int, "an integer")
    fields: dict[str, Any] = {
        "url": url,
        "settings_version": version,
        "variables": variables,
        "stats.nr_of_workers": nr_of_workers,
        "_updated": clock.utcnow(),
        "_etag": uuid.uuid4().hex,
    }
    if "worker_task_types" in payload:
        task_types = payload["worker_task_types"]
        if not isinstance(task_types, list) or not all(isinstance(t, str) for t in task_types):
            raise NotificationError("worker_task_types", "must be a list of strings")
        fields["worker_task_types"] = task_types
    update: dict[str, Any] = {"$set": fields}
    if version == 1:
        fields["path_replacement"] = _require(payload, "path_replacement", dict, "an object")
    else:
        update["$unset"] = {"path_replacement": ""}
    if "worker_actions_done" in payload:
        try:
            update.setdefault("$unset", {}).update(worker_actions.acknowledged_unset(payload["worker_actions_done"]))
        except worker_actions.ActionError as ex:
            raise NotificationError(ex.field, ex.reason) from None
    return update


def reported_workers(manager: dict, payload: dict) -> list[dict] | None:
    """The registry documents of the notification's ``workers``, or None when it has none."""
    received_at = clock.utcnow()
    try:
        workers = worker_report.parse_workers(payload)
        if workers is None:
            return None
        reported_at = worker_report.parse_reported_at(payload, received_at)
    except worker_report.ReportError as ex:
        raise NotificationError(ex.field, ex.reason) from None
    return [worker_report.registry_document(manager["_id"], w, reported_at, received_at) for w in workers]


def store_notification(db: Database, manager: dict, payload: dict) -> None:
    """Validate all of a startup/update notification, then store it: one write on
    the Manager's document, plus one bulk write of its workers when it reports them."""
    update = notification_update(payload)
    workers = reported_workers(manager, payload)
    try:
        settings_version = manager_settings.parse_applied_version(payload)
    except manager_settings.SettingsError as ex:
        raise NotificationError(ex.field, ex.reason) from None
    db[MANAGERS].update_one({"_id": manager["_id"]}, update)
    if settings_version is not None:
        manager_settings.acknowledge(db, manager, settings_version)
    if workers is not None:
        worker_registry.replace_reports(db, manager["_id"], workers)
