"""Worker actions: queued by users, handed to the Manager, acknowledged by it.

An action waits under the Manager's document (``defaults.PENDING_FIELD``,
keyed by its id) until the Manager acknowledges it in a notification
(``worker_actions_done``). Until then every task-update-batch answer
carries it (``worker_actions``), so an answer lost on the way costs
nothing; the Manager remembers the ids it applied and applies each once.
"""
from __future__ import annotations

import datetime
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, errors
from flamenco.store.collections import MANAGERS
from flamenco.workers import defaults, sleep_schedule
from flamenco_protocol import requirements

REQUEST_FIELDS = frozenset({"action", "lazy", "job", "task_type", "tags", "schedule"})
# The same length limit as a reported task type.
TASK_TYPE_MAX = 128


class ActionError(errors.FieldError):
    """An action that cannot be queued: ``code`` for the answer, ``field`` names the culprit."""


def _object_id(value: object, field: str) -> ObjectId:
    if isinstance(value, str) and ObjectId.is_valid(value) and len(value) == 24:
        return ObjectId(value)
    raise ActionError(400, field, "must be a 24-character hex ObjectId")


def _tags(payload: dict) -> list[str] | None:
    """``set-tags``' ``tags``: a list of tags, or null to give the worker its own tags back."""
    if "tags" not in payload:
        raise ActionError(400, "tags", f"required for {defaults.SET_TAGS}: a list of tags, or null to clear")
    if payload["tags"] is None:
        return None
    try:
        return requirements.check_tags(payload["tags"])
    except requirements.RequirementsError as ex:
        raise ActionError(400, ex.field, ex.reason) from None


def _schedule(action: str, payload: dict) -> dict | None:
    """``set-sleep-schedule``'s ``schedule`` (required there, refused elsewhere)."""
    if action != defaults.SET_SLEEP_SCHEDULE:
        if "schedule" in payload:
            raise ActionError(400, "schedule", f"only for {defaults.SET_SLEEP_SCHEDULE}")
        return None
    try:
        return sleep_schedule.parse(payload)
    except sleep_schedule.ScheduleError as ex:
        raise ActionError(400, ex.field, ex.reason) from None


def parse_request(payload: dict) -> dict[str, Any]:
    """``{"action", "lazy"?, "job"?, "task_type"?, "tags"?}`` checked; ``job`` only (and always) for the
    blocklist, ``tags`` only (and always) for ``set-tags``."""
    unknown = sorted(set(payload) - REQUEST_FIELDS)
    if unknown:
        raise ActionError(400, unknown[0], f"unknown field; send only {', '.join(sorted(REQUEST_FIELDS))}")
    action = payload.get("action")
    if action not in defaults.ACTIONS:
        raise ActionError(400, "action", f"must be one of {', '.join(defaults.ACTIONS)}")
    lazy = payload.get("lazy", False)
    if not isinstance(lazy, bool):
        raise ActionError(400, "lazy", "must be true or false")
    if lazy and action not in defaults.LAZY_ACTIONS:
        raise ActionError(400, "lazy", f"only {' and '.join(defaults.LAZY_ACTIONS)} can wait for the current task")
    request: dict[str, Any] = {"action": action, "lazy": lazy, "job": None, "task_type": None, "tags": None,
                               "schedule": _schedule(action, payload)}
    if action != defaults.SET_TAGS and "tags" in payload:
        raise ActionError(400, "tags", f"only for {defaults.SET_TAGS}")
    if action == defaults.SET_TAGS:
        request["tags"] = _tags(payload)
    if action != defaults.REMOVE_FROM_BLOCKLIST:
        for field in ("job", "task_type"):
            if field in payload:
                raise ActionError(400, field, f"only for {defaults.REMOVE_FROM_BLOCKLIST}")
        return request
    request["job"] = _object_id(payload.get("job"), "job")
    task_type = payload.get("task_type")
    if task_type is not None and (not isinstance(task_type, str) or not task_type or len(task_type) > TASK_TYPE_MAX):
        raise ActionError(400, "task_type", f"must be a non-empty string of at most {TASK_TYPE_MAX} characters")
    request["task_type"] = task_type
    return request


def _expired(action: dict, now: datetime.datetime) -> bool:
    age = (now - clock.as_utc(action["_created"])).total_seconds()
    return age > defaults.PENDING_ACTION_MAX_AGE_SECONDS


def pending(manager: dict, now: datetime.datetime) -> list[dict]:
    """The Manager's pending actions that have not expired, oldest first."""
    actions = (manager.get(defaults.PENDING_FIELD) or {}).values()
    return sorted((a for a in actions if not _expired(a, now)), key=lambda a: (a["_created"], a["_id"]))


def _same_request(action: dict, worker_id: str, request: dict) -> bool:
    return action["worker"] == worker_id and all(action.get(k) == v for k, v in request.items())


def queue(db: Database, manager: dict, worker_id: str, request: dict, requested_by: ObjectId,
          now: datetime.datetime) -> tuple[dict, bool]:
    """Store the action as pending on the Manager; ``(action, created)``.

    Asking again for what is still pending returns the pending action
    (``created`` False) instead of queueing a duplicate.
    """
    waiting = pending(manager, now)
    for action in waiting:
        if _same_request(action, worker_id, request):
            return action, False
    if len(waiting) >= defaults.MAX_PENDING_ACTIONS:
        raise ActionError(429, "action", f"this Manager already has {len(waiting)} actions waiting for it")
    action = {"_id": str(ObjectId()), "worker": worker_id, **request, "requested_by": requested_by,
              "_created": now}
    update: dict[str, dict] = {"$set": {f"{defaults.PENDING_FIELD}.{action['_id']}": action}}
    expired = [key for key, a in (manager.get(defaults.PENDING_FIELD) or {}).items() if _expired(a, now)]
    if expired:
        update["$unset"] = {f"{defaults.PENDING_FIELD}.{key}": "" for key in expired}
    db[MANAGERS].update_one({"_id": manager["_id"]}, update)
    return action, True


def to_wire(action: dict) -> dict[str, Any]:
    """What the Manager receives: ids as strings, no user ids, no empty fields."""
    out: dict[str, Any] = {"_id": action["_id"], "worker": action["worker"], "action": action["action"],
                           "lazy": bool(action.get("lazy"))}
    if action.get("job") is not None:
        out["job"] = str(action["job"])
    if action.get("task_type"):
        out["task_type"] = action["task_type"]
    if action["action"] == defaults.SET_TAGS:
        out["tags"] = action.get("tags")
    if action["action"] == defaults.SET_SLEEP_SCHEDULE:
        out["schedule"] = action.get("schedule")
    return out


def wire_pending(manager: dict, now: datetime.datetime) -> list[dict]:
    """The ``worker_actions`` of a task-update-batch answer."""
    return [to_wire(a) for a in pending(manager, now)]


def acknowledged_unset(done: object) -> dict[str, str]:
    """The ``$unset`` that drops the acknowledged actions (``worker_actions_done``: a list of ids)."""
    if not isinstance(done, list):
        raise ActionError(400, "worker_actions_done", "must be a list of action ids")
    unset = {}
    for index, action_id in enumerate(done):
        if not isinstance(action_id, str) or not ObjectId.is_valid(action_id) or len(action_id) != 24:
            raise ActionError(400, f"worker_actions_done[{index}]", "must be a 24-character hex action id")
        unset[f"{defaults.PENDING_FIELD}.{action_id}"] = ""
    return unset
