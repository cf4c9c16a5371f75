"""Eve hooks of ``flamenco_task_logs``: logs are visible with their task.

Log documents carry only ``task``, so non-superusers must filter on one task
(``where={"task": "<id>"}``, as the dashboard does); the caller must be able
to see that task and have ``flamenco-view-logs``. Scanning the caller's whole
task set to filter logs would be a full scan per request on the local store
(flamenco.store: scan).
"""
from __future__ import annotations

import json

import eve
import flask
from bson import ObjectId

from flamenco import errors
from flamenco.auth import roles, scoping
from flamenco.store import current_db
from flamenco.store.collections import TASKS


def _visible_task(task_id: ObjectId) -> bool:
    db = current_db()
    user = scoping.require_user()
    query: dict = {"_id": task_id}
    scoping.restrict(query, scoping.project_scoped_filter(db, user))
    return db[TASKS].find_one(query, {"_id": 1}) is not None


def _require_log_access() -> bool:
    """True when the caller sees all logs; otherwise checks the capability."""
    user = scoping.require_user()
    if user.is_superuser:
        return True
    if not user.is_manager:
        scoping.require_cap(user, roles.CAP_VIEW_LOGS)
    return False


def on_pre_get(request: flask.Request, lookup: dict) -> None:
    if _require_log_access() or "_id" in lookup:
        return  # item GETs are checked in on_fetched_item
    try:
        where = json.loads(request.args.get("where") or "{}")
    except ValueError:
        errors.abort(400, "where is not valid JSON", {"where": "must be a JSON object"})
    task = where.get("task") if isinstance(where, dict) else None
    if not isinstance(task, str):
        errors.abort(400, "task logs must be filtered on one task",
                     {"where": 'must contain {"task": "<task id>"}'})
    task_id = errors.parse_object_id(task, "where.task")
    if not _visible_task(task_id):
        errors.abort(404, "task not found")


def on_fetched_item(doc: dict) -> None:
    if _require_log_access():
        return
    if not _visible_task(doc["task"]):
        errors.abort(404, "task log not found")


def setup_app(app: eve.Eve) -> None:
    app.on_pre_GET_flamenco_task_logs += on_pre_get
    app.on_fetched_item_flamenco_task_logs += on_fetched_item
