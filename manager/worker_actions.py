"""Worker actions from the Server: apply each one once, then acknowledge it.

The Server hands out the actions users queued on its dashboard (sleep, wake,
shutdown, remove-from-blocklist, set-tags, set-sleep-schedule) in every task-update-batch answer until
the Manager acknowledges them (``worker_actions_done`` in its next
notification). Answers can be lost and actions re-sent, so the ids of
applied actions are remembered (durably, in a ``settings`` document) and a
re-sent one is only acknowledged again. Status changes go through
``workers.request_status_change``, exactly as the Manager's own dashboard.
"""
from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId

from flamenco_manager import blocklist, sleep_schedule, store, tasks, workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_protocol import requirements
from flamenco_protocol.statuses import WorkerStatus

log = logging.getLogger(__name__)

SETTINGS_DOC = "worker_actions"
# Applied action ids remembered to recognise a re-delivery; the Server stops
# sending an action once its acknowledgement arrived, one sync later.
REMEMBERED_IDS = 500
# The Server's action names and the worker status each one requests.
REQUESTED_STATUS = {"sleep": WorkerStatus.ASLEEP, "wake": WorkerStatus.AWAKE, "shutdown": WorkerStatus.SHUTDOWN}
REMOVE_FROM_BLOCKLIST = "remove-from-blocklist"
# Replace the worker's tags with the admin's (``tags``), or back to its own (``tags: null``).
SET_TAGS = "set-tags"
# Replace the worker's sleep schedule (``schedule``), checked by ``sleep_schedule.set_schedule``.
SET_SLEEP_SCHEDULE = "set-sleep-schedule"


def _doc(ctx: ManagerContext) -> dict:
    return ctx.state.settings.setdefault(SETTINGS_DOC, {"_id": SETTINGS_DOC, "applied": [], "unconfirmed": []})


def _save(ctx: ManagerContext, doc: dict) -> None:
    doc["applied"] = doc["applied"][-REMEMBERED_IDS:]
    ctx.journal.replace(store.SETTINGS, doc)


def _remove_from_blocklist(ctx: ManagerContext, worker_id: ObjectId, action: dict) -> None:
    job_id = tasks.parse_id(action.get("job"))
    if job_id is None:
        log.warning("worker action %s: no valid job id; nothing removed", action.get("_id"))
        return
    task_type = action.get("task_type")
    keys = [k for k in ctx.state.blocklist if k[0] == worker_id and k[1] == job_id
            and (not task_type or k[2] == task_type)]
    for _, _, key_task_type in keys:
        blocklist.forget(ctx, worker_id, job_id, key_task_type)


def _set_tags(ctx: ManagerContext, worker_id: ObjectId, action: dict) -> None:
    raw = action.get("tags")
    try:
        tags = None if raw is None else requirements.check_tags(raw)
    except requirements.RequirementsError as ex:
        log.warning("worker action %s: %s; tags left as they were", action.get("_id"), ex)
        return
    workers.set_admin_tags(ctx, ctx.state.workers[worker_id], tags)


def _set_sleep_schedule(ctx: ManagerContext, worker_id: ObjectId, action: dict) -> None:
    schedule = action.get("schedule")
    try:
        sleep_schedule.set_schedule(ctx, worker_id, schedule if isinstance(schedule, dict) else {})
    except sleep_schedule.ScheduleError as ex:
        log.warning("worker action %s: %s; schedule left as it was", action.get("_id"), ex)


def _apply(ctx: ManagerContext, action: dict[str, Any]) -> None:
    """Carry out one action; one that cannot apply (a forgotten worker) is logged and done with."""
    kind = action.get("action")
    worker_id = tasks.parse_id(action.get("worker"))
    if worker_id is None or worker_id not in ctx.state.workers:
        log.warning("worker action %s: no worker %s here (forgotten?); ignored", action.get("_id"), action.get("worker"))
        return
    if kind in REQUESTED_STATUS:
        lazy = bool(action.get("lazy")) and kind != "wake"
        workers.request_status_change(ctx, worker_id, REQUESTED_STATUS[kind], lazy)
    elif kind == REMOVE_FROM_BLOCKLIST:
        _remove_from_blocklist(ctx, worker_id, action)
    elif kind == SET_TAGS:
        _set_tags(ctx, worker_id, action)
    elif kind == SET_SLEEP_SCHEDULE:
        _set_sleep_schedule(ctx, worker_id, action)
    else:
        log.warning("worker action %s: unknown action %r; ignored", action.get("_id"), kind)
        return
    log.info("worker action %s: %s for worker %s (requested on the Server)", action.get("_id"), kind, worker_id)


@on_engine
def apply_from_server(ctx: ManagerContext, actions: list) -> int:
    """Apply the actions not applied before; return how many were new. Every one gets acknowledged."""
    doc = _doc(ctx)
    new, to_acknowledge = 0, 0
    for action in actions:
        action_id = action.get("_id") if isinstance(action, dict) else None
        if not isinstance(action_id, str) or not action_id:
            log.warning("worker action without an id from the Server; ignored: %.200r", action)
            continue
        if action_id not in doc["applied"]:
            _apply(ctx, action)
            doc["applied"].append(action_id)
            new += 1
        if action_id not in doc["unconfirmed"]:
            doc["unconfirmed"].append(action_id)
            to_acknowledge += 1
    if to_acknowledge:
        _save(ctx, doc)
    return new


@on_engine
def unacknowledged(ctx: ManagerContext) -> list[str]:
    """Ids of applied actions the Server has not heard about yet (the next ``worker_actions_done``)."""
    return list(_doc(ctx)["unconfirmed"])


@on_engine
def acknowledged(ctx: ManagerContext, action_ids: list[str]) -> None:
    """A notification carrying these ids went through: stop sending them."""
    if not action_ids:
        return
    doc = _doc(ctx)
    done = set(action_ids)
    doc["unconfirmed"] = [a for a in doc["unconfirmed"] if a not in done]
    _save(ctx, doc)
