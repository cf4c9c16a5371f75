"""Requests from the worker API to the sync daemon, and the sync daemon's own marks.

Kicks live in memory (the API and the daemon share one process): nobody ever
blocks on them (the original's unbuffered kick channel stalled the
scheduler, reference D.1.2). What must survive a restart (the depsgraph
marker, a pending update notification, the latest output) is a ``settings``
document written through the journal.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from flamenco_manager import store
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine

KICK_DOC = "download_kick"
NOTIFY_DOC = "update_notification"
DEPSGRAPH_DOC = "depsgraph"
LATEST_OUTPUT_DOC = "latest_output"


def _get(ctx: ManagerContext, doc_id: str) -> dict:
    return ctx.state.settings.get(doc_id) or {}


def _set(ctx: ManagerContext, doc_id: str, fields: dict[str, Any], durable: bool = True) -> None:
    doc = ctx.state.settings.setdefault(doc_id, {"_id": doc_id})
    doc.update(fields)
    if durable:
        ctx.journal.replace(store.SETTINGS, doc)


@on_engine
def kick_download(ctx: ManagerContext, throttle: float | None = None) -> bool:
    """Ask for a depsgraph download soon; with ``throttle``, at most that often (-1 = never)."""
    now = ctx.now()
    if throttle is not None:
        if throttle < 0:
            return False
        at = _get(ctx, KICK_DOC).get("requested_at")
        if at is not None and now - at < dt.timedelta(seconds=throttle):
            return False
    _set(ctx, KICK_DOC, {"requested_at": now}, durable=False)
    return True


@on_engine
def kicked_since(ctx: ManagerContext, since: dt.datetime | None) -> bool:
    """Whether a kick came after ``since`` (the last download)."""
    at = _get(ctx, KICK_DOC).get("requested_at")
    return at is not None and (since is None or at > since)


@on_engine
def request_update_notification(ctx: ManagerContext) -> None:
    """Worker task types changed: the Server should hear about it."""
    _set(ctx, NOTIFY_DOC, {"pending": True})


@on_engine
def update_notification_pending(ctx: ManagerContext) -> bool:
    return bool(_get(ctx, NOTIFY_DOC).get("pending"))


@on_engine
def clear_update_notification(ctx: ManagerContext) -> None:
    _set(ctx, NOTIFY_DOC, {"pending": False})


@on_engine
def depsgraph_last_modified(ctx: ManagerContext) -> str | None:
    """The Server's ``X-Flamenco-Last-Updated`` of the last download."""
    return _get(ctx, DEPSGRAPH_DOC).get("last_modified")


@on_engine
def set_depsgraph_last_modified(ctx: ManagerContext, value: str | None) -> None:
    _set(ctx, DEPSGRAPH_DOC, {"last_modified": value})


def record_output(ctx: ManagerContext, paths: list[str], worker_nickname: str) -> None:
    """Remember the latest files a worker produced, for the dashboard."""
    _set(ctx, LATEST_OUTPUT_DOC, {"paths": paths, "worker": worker_nickname, "at": ctx.now()})


@on_engine
def latest_output(ctx: ManagerContext) -> dict:
    return dict(_get(ctx, LATEST_OUTPUT_DOC))
