"""Requests from the API processes to the sync daemon, passed through ``settings``.

The API and the daemon may be different processes, so a "kick" is a small
document rather than a channel: nobody ever blocks on it (the original's
unbuffered kick channel stalled the scheduler, reference D.1.2).
"""
from __future__ import annotations

import datetime as dt
import uuid

from pymongo.errors import OperationFailure

from flamenco_manager import db as dbmod
from flamenco_manager.context import ManagerContext

KICK_DOC = "download_kick"
NOTIFY_DOC = "update_notification"
DEPSGRAPH_DOC = "depsgraph"
LATEST_OUTPUT_DOC = "latest_output"
SCHEDULE_DOC = "schedulable_tasks"


def _set(ctx: ManagerContext, doc_id: str, fields: dict) -> None:
    """Upsert a settings document; a racing upsert from another process is retried as an update.

    FerretDB reports two simultaneous upserts of one ``_id`` as a write error
    rather than letting one of them update.
    """
    settings = ctx.db[dbmod.SETTINGS]
    try:
        settings.update_one({"_id": doc_id}, {"$set": fields}, upsert=True)
    except OperationFailure:
        settings.update_one({"_id": doc_id}, {"$set": fields})


def kick_download(ctx: ManagerContext, throttle: float | None = None) -> bool:
    """Ask for a depsgraph download soon; with ``throttle``, at most that often (-1 = never)."""
    now = ctx.now()
    settings = ctx.db[dbmod.SETTINGS]
    if throttle is not None:
        if throttle < 0:
            return False
        last = settings.find_one({"_id": KICK_DOC}) or {}
        at = last.get("requested_at")
        if at is not None and now - at < dt.timedelta(seconds=throttle):
            return False
    _set(ctx, KICK_DOC, {"requested_at": now})
    return True


def kicked_since(ctx: ManagerContext, since: dt.datetime | None) -> bool:
    """Whether a kick came after ``since`` (the last download)."""
    doc = ctx.db[dbmod.SETTINGS].find_one({"_id": KICK_DOC}) or {}
    at = doc.get("requested_at")
    return at is not None and (since is None or at > since)


def request_update_notification(ctx: ManagerContext) -> None:
    """Worker task types changed: the Server should hear about it."""
    _set(ctx, NOTIFY_DOC, {"pending": True})


def update_notification_pending(ctx: ManagerContext) -> bool:
    return bool((ctx.db[dbmod.SETTINGS].find_one({"_id": NOTIFY_DOC}) or {}).get("pending"))


def clear_update_notification(ctx: ManagerContext) -> None:
    _set(ctx, NOTIFY_DOC, {"pending": False})


def depsgraph_last_modified(ctx: ManagerContext) -> str | None:
    """The Server's ``X-Flamenco-Last-Updated`` of the last download."""
    return (ctx.db[dbmod.SETTINGS].find_one({"_id": DEPSGRAPH_DOC}) or {}).get("last_modified")


def set_depsgraph_last_modified(ctx: ManagerContext, value: str | None) -> None:
    _set(ctx, DEPSGRAPH_DOC, {"last_modified": value})


def record_output(ctx: ManagerContext, paths: list[str], worker_nickname: str) -> None:
    """Remember the latest files a worker produced, for the dashboard."""
    _set(ctx, LATEST_OUTPUT_DOC, {"paths": paths, "worker": worker_nickname, "at": ctx.now()})


def latest_output(ctx: ManagerContext) -> dict:
    return ctx.db[dbmod.SETTINGS].find_one({"_id": LATEST_OUTPUT_DOC}) or {}


def mark_schedulable_changed(ctx: ManagerContext) -> None:
    """Tasks became schedulable (downloaded, re-queued, soft-failed): schedulers must re-read."""
    _set(ctx, SCHEDULE_DOC, {"token": uuid.uuid4().hex})


def schedulable_token(ctx: ManagerContext) -> str | None:
    """Changes whenever ``mark_schedulable_changed`` is called, from any process."""
    return (ctx.db[dbmod.SETTINGS].find_one({"_id": SCHEDULE_DOC}) or {}).get("token")
