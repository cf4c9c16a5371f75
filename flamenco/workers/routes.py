"""REST API of the worker registry: the farm-wide list and worker actions.

- ``GET /api/flamenco/workers[?manager=<id>]``: every worker of every Manager
  the caller may see (``flamenco.managers.hooks.manager_filter``), with the
  displayed status (see :mod:`.registry`), the current task when the caller
  may see its project, and the actions still waiting for the Manager.
- ``POST /api/flamenco/workers/<manager id>/<worker id>/actions`` with
  ``{"action": "sleep"|"wake"|"shutdown"|"remove-from-blocklist"|"set-tags", "lazy"?,
  "job"? , "task_type"?, "tags"?}``: 201 with the queued action (200 with the one
  already pending). Owners of the Manager and admins only: 404 when the
  caller may not see the Manager or it never reported the worker, 403 when
  they may see but not change it, 400 naming the field for bad input.
"""
from __future__ import annotations

import datetime
from typing import Any

import flask
from bson import ObjectId

from flamenco import clock, errors, projects
from flamenco.auth import CurrentUser, scoping
from flamenco.extension import json_payload
from flamenco.managers import user_is_owner
from flamenco.managers.hooks import manager_filter
from flamenco.workers import actions, defaults, registry
from flamenco.store import current_db
from flamenco.store.collections import MANAGERS, PROJECTS, TASKS
from flamenco_protocol.statuses import RUNNING_TASK_STATUSES

blueprint = flask.Blueprint("workers_api", __name__, url_prefix="/api/flamenco/workers")

MANAGER_PROJECTION = {"name": 1, "owner_users": 1, defaults.PENDING_FIELD: 1}


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def visible_managers(manager_id: ObjectId | None = None) -> list[dict]:
    """The Managers the caller may see (optionally only one of them)."""
    query: dict = {} if manager_id is None else {"_id": manager_id}
    scoping.restrict(query, manager_filter())
    return list(current_db()[MANAGERS].find(query, MANAGER_PROJECTION))


def _running_task_id(worker: dict) -> ObjectId | None:
    """The worker's task while it runs it (the Manager keeps the last one after it ended)."""
    if worker.get("current_task_status") in RUNNING_TASK_STATUSES:
        return worker.get("current_task")
    return None


def _current_tasks(user: CurrentUser, workers: list[dict]) -> dict[ObjectId, dict]:
    """The running tasks of ``workers`` in projects the caller may see, by id, with their project's URL."""
    ids = [task_id for task_id in map(_running_task_id, workers) if task_id]
    if not ids:
        return {}
    query: dict = {"_id": {"$in": ids}}
    visible = projects.visible_project_ids(current_db(), user)
    if visible is not None:
        query["project"] = {"$in": visible}
    found = list(current_db()[TASKS].find(query, {"name": 1, "status": 1, "job": 1, "project": 1}))
    urls = {p["_id"]: p.get("url") for p in current_db()[PROJECTS].find(
        {"_id": {"$in": list({t["project"] for t in found})}}, {"url": 1})}
    return {t["_id"]: {"_id": str(t["_id"]), "name": t.get("name", ""), "status": t.get("status", ""),
                       "job": str(t.get("job")), "project_url": urls.get(t["project"])} for t in found}


def _pending_action(action: dict) -> dict[str, Any]:
    return {**actions.to_wire(action), "_created": _iso(action["_created"])}


def worker_item(worker: dict, manager: dict, tasks: dict[ObjectId, dict], pending: list[dict],
                may_act: bool, now: datetime.datetime) -> dict[str, Any]:
    """One worker as the API lists it."""
    return {
        "_id": worker["_id"], "worker_id": worker["worker_id"],
        "manager": {"_id": str(manager["_id"]), "name": manager.get("name", "")},
        "nickname": worker.get("nickname", ""),
        "status": registry.displayed_status(worker, now),
        "reported_status": worker.get("status", ""),
        "status_requested": worker.get("status_requested") or "",
        "lazy_status_request": bool(worker.get("lazy_status_request")),
        "last_seen": _iso(registry.last_seen(worker, now)),
        "platform": worker.get("platform", ""),
        "supported_task_types": worker.get("supported_task_types") or [],
        "software": worker.get("software", ""),
        "address": worker.get("address", ""),
        "current_task": tasks.get(_running_task_id(worker)),  # type: ignore[arg-type]
        "blocklist": [{"job": str(b["job"]), "task_type": b["task_type"]} for b in worker.get("blocklist") or []],
        "tags": worker.get("tags") or [],
        "own_tags": worker.get("own_tags") or [],
        "tags_set_by_admin": bool(worker.get("tags_set_by_admin")),
        "resources": worker.get("resources"),
        "sleep_schedule": worker.get("sleep_schedule"),
        "pending_actions": [_pending_action(a) for a in pending if a["worker"] == worker["worker_id"]],
        "may_act": may_act,
    }


@blueprint.get("")
def list_workers() -> flask.typing.ResponseReturnValue:
    """The farm-wide worker list (``_items``), by Manager name and worker nickname."""
    user = scoping.require_user()
    raw_manager = flask.request.args.get("manager")
    manager_id = errors.parse_object_id(raw_manager, "manager") if raw_manager is not None else None
    managers = {m["_id"]: m for m in visible_managers(manager_id)}
    workers = registry.workers_of(current_db(), managers)
    tasks = _current_tasks(user, workers)
    now = clock.utcnow()
    pending = {mid: actions.pending(m, now) for mid, m in managers.items()}
    may_act = {mid: user_is_owner(user, m) for mid, m in managers.items()}
    items = [worker_item(w, managers[w["manager"]], tasks, pending[w["manager"]], may_act[w["manager"]], now)
             for w in workers]
    items.sort(key=lambda i: (i["manager"]["name"].lower(), i["nickname"].lower(), i["_id"]))
    response = flask.jsonify({"_items": items, "_meta": {"total": len(items)},
                              "offline_after_seconds": defaults.OFFLINE_AFTER_SECONDS})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/<manager_id>/<worker_id>/actions")
def queue_action(manager_id: str, worker_id: str) -> flask.typing.ResponseReturnValue:
    """Queue an action for the worker; its Manager picks it up on its next sync."""
    user = scoping.require_user()
    found = visible_managers(errors.parse_object_id(manager_id, "manager_id"))
    if not found:
        errors.abort(404, f"there is no Manager {manager_id} that you may see")
    manager = found[0]
    if not user_is_owner(user, manager):
        errors.abort(403, "only an owner of this Manager or an admin may act on its workers")
    if registry.find_worker(current_db(), manager["_id"], worker_id) is None:
        errors.abort(404, f"the Manager has not reported a worker {worker_id!r}",
                     {"worker_id": "not reported by this Manager"})
    try:
        request = actions.parse_request(json_payload())
        action, created = actions.queue(current_db(), manager, worker_id, request, user.user_id, clock.utcnow())
    except actions.ActionError as ex:
        errors.abort(ex.code, ex.reason, {ex.field: ex.reason})
    response = flask.jsonify({**_pending_action(action), "status": "pending"})
    response.status_code = 201 if created else 200
    return response
