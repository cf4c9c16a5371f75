"""Live updates: changed jobs and tasks go out on Redis pub/sub and reach open pages as SSE.

Whoever changes a job or task announces it on :mod:`flamenco.eventbus`; this
module's listener there (:func:`on_changes`, subscribed at app and Celery
start-up by ``FlamencoExtension.event_listeners``) publishes each delivery:
at most one read of the changed tasks, one of their jobs and one Redis
pipeline per kind, whatever the number of changes. A task change also
refreshes its job's row (its progress and counts moved); a job change whose
rules rewrote tasks tells the pages to re-read that job's tasks. Every open
dashboard page of a project holds one Server-Sent Events stream
(:func:`sse_stream`) fed from the same Redis channel, which keeps this working
across several server processes.

Publishing is best-effort on purpose: a dashboard that misses an update is a
cosmetic problem, a status change that fails because Redis is down is not. So
:func:`publish_many` never raises, and after a failure it stops trying that
Redis server for a short while instead of paying a connection time-out on
every call.

Each publish also updates the dashboard's read models in Redis: the per-job
task index (``task_index``), the per-project job rows (``job_index``), the
job-list cache (``job_cache``) and the workers each Manager reported
(``workers_seen``), so pages rarely have to scan big collections.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Generator, Iterable, Mapping, Sequence

import redis

from flamenco.eventbus import Change
from flamenco.store.collections import JOBS, TASKS
from flamenco.web import job_cache, job_index, task_index, workers_seen
from flamenco.web.live_events import CHANNEL, DELETED, EVENT_FIELDS, channel_message, events_of, make_event

if TYPE_CHECKING:
    from bson import ObjectId
    from pymongo.database import Database

log = logging.getLogger(__name__)

# Used when neither the Flask config nor the environment names a Redis server.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# publish() runs inside status changes: a down Redis may cost it at most this long.
PUBLISH_SOCKET_TIMEOUT = 0.5
# After a failed publish, skip publishing this many seconds rather than
# slowing down every status change of a bulk operation with time-outs.
PUBLISH_BACKOFF_SECONDS = 5.0
# An idle SSE stream sends a comment this often, so proxies keep it open and
# the server notices a closed browser tab (and frees its thread) within this
# many seconds.
SSE_HEARTBEAT_SECONDS = 5.0
# The browser's EventSource waits this long (ms) before reconnecting.
SSE_RETRY_MS = 2000

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
# Redis URL -> monotonic time until which publishing to it is skipped (per URL, so one
# unreachable server does not silence another).
_publish_paused_until: dict[str, float] = {}


def redis_url() -> str:
    """The Redis URL of the running app, else ``$REDIS_URL``, else the local default."""
    try:
        from flask import current_app, has_app_context

        if has_app_context() and current_app.config.get("REDIS_URL"):
            return current_app.config["REDIS_URL"]
    except ImportError:  # pragma: no cover - flask is a server dependency
        pass
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def client(url: str | None = None) -> redis.Redis:
    """A Redis client for ``url`` (default: :func:`redis_url`); one connection
    pool per URL, shared by all threads of this process, with short time-outs."""
    url = url or redis_url()
    with _clients_lock:
        found = _clients.get(url)
        if found is None:
            found = redis.Redis.from_url(
                url,
                socket_timeout=PUBLISH_SOCKET_TIMEOUT,
                socket_connect_timeout=PUBLISH_SOCKET_TIMEOUT,
            )
            _clients[url] = found
        return found


def publish_many(kind: str, docs: Iterable[Mapping[str, Any]], *, url: str | None = None,
                 tasks_changed: bool = True) -> bool:
    """Announce changed documents in one round trip; ``False`` if Redis was unreachable.

    For a job event, pass ``tasks_changed=False`` when none of its tasks
    changed along with it (e.g. ``JobStatusChange.tasks_modified == 0``): the
    dashboard then keeps its task index of that job instead of rebuilding it.
    Never raises for Redis trouble: the change itself already happened.
    """
    events = [make_event(kind, doc) for doc in docs]
    if not events:
        return True
    url = url or redis_url()
    if time.monotonic() < _publish_paused_until.get(url, 0.0):
        return False
    try:
        pipe = client(url).pipeline(transaction=False)
        task_index.queue_events(pipe, events, tasks_changed=tasks_changed)
        job_index.queue_events(pipe, events)
        job_cache.queue_job_events(pipe, events)
        workers_seen.queue_events(pipe, events)
        by_project: dict[Any, list[dict]] = {}
        for event in events:
            by_project.setdefault(event["project"], []).append(event)
        for project, project_events in by_project.items():
            pipe.publish(CHANNEL, channel_message(project, project_events))
        pipe.execute()
    except redis.RedisError as ex:
        _publish_paused_until[url] = time.monotonic() + PUBLISH_BACKOFF_SECONDS
        log.warning("live update not published (Redis unreachable for %.0f s): %s",
                    PUBLISH_BACKOFF_SECONDS, ex)
        return False
    return True


def publish(kind: str, doc: Mapping[str, Any], *, url: str | None = None, tasks_changed: bool = True) -> bool:
    """Announce one changed job or task; see :func:`publish_many`."""
    return publish_many(kind, [doc], url=url, tasks_changed=tasks_changed)


def publish_job_deleted(job: Mapping[str, Any]) -> bool:
    """Announce that a job (and its tasks) is gone, so open pages and read models drop it."""
    return publish("job", {**job, "status": DELETED})


def _sse(data: str, event: str | None = None) -> str:
    """Format one Server-Sent Events message."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n"


def sse_stream(project_id: Any, *, url: str | None = None,
               heartbeat: float = SSE_HEARTBEAT_SECONDS) -> Generator[str, None, None]:
    """Yield SSE messages for the events of one project, forever.

    The first message is sent at once (so the browser knows it is connected);
    then one message per event of this project, and a comment every
    ``heartbeat`` seconds of silence. If Redis cannot be reached, an ``error``
    event is sent and the stream ends; the browser reconnects by itself.
    """
    project = str(project_id)
    connection = redis.Redis.from_url(url or redis_url(), socket_connect_timeout=PUBLISH_SOCKET_TIMEOUT)
    pubsub = connection.pubsub(ignore_subscribe_messages=True)
    try:
        try:
            pubsub.subscribe(CHANNEL)
        except redis.RedisError as ex:
            log.warning("live updates unavailable: %s", ex)
            yield f"retry: {SSE_RETRY_MS * 5}\n" + _sse(json.dumps({"message": "live updates unavailable"}), "error")
            return
        yield f"retry: {SSE_RETRY_MS}\n" + _sse(json.dumps({"project": project}), "hello")
        while True:
            try:
                message = pubsub.get_message(timeout=heartbeat)
            except redis.RedisError as ex:
                log.warning("live update stream lost Redis: %s", ex)
                yield _sse(json.dumps({"message": "live updates interrupted"}), "error")
                return
            if message is None:
                yield ": keep-alive\n\n"
                continue
            message_project, events = events_of(message["data"])
            if message_project == project:
                for event in events:
                    yield _sse(json.dumps(event), event.get("kind"))
    finally:
        pubsub.close()
        connection.close()


# --- The listener on the event bus -------------------------------------------------


def on_changes(db: Database, changes: Sequence[Change]) -> None:
    """Publish the changed tasks, then every job they or the rules changed (each once)."""
    tasks = [c for c in changes if c.kind == "task"]
    jobs = [c for c in changes if c.kind == "job"]
    deleted = {c.doc_id for c in jobs if c.deleted}
    if tasks:
        publish_many("task", _task_docs(db, tasks))
    for change in jobs:
        if change.deleted and change.doc is not None:
            publish_job_deleted(change.doc)
    rewrote_tasks: dict[ObjectId, bool] = {}
    for change in tasks:
        if change.job_id is not None:
            rewrote_tasks.setdefault(change.job_id, False)
    for change in jobs:
        if not change.deleted:
            rewrote_tasks[change.doc_id] = rewrote_tasks.get(change.doc_id, False) or change.tasks_changed
    for tasks_changed in (True, False):
        job_ids = [job_id for job_id, rewrote in rewrote_tasks.items()
                   if rewrote is tasks_changed and job_id not in deleted]
        if job_ids:
            publish_many("job", _read(db, JOBS, job_ids, ("project",)), tasks_changed=tasks_changed)


def _task_docs(db: Database, changes: Iterable[Change]) -> list[Mapping[str, Any]]:
    """The changers' documents where they gave them, one read for the rest."""
    given = {c.doc_id: c.doc for c in changes if c.doc is not None}
    missing = [c.doc_id for c in changes if c.doc is None and c.doc_id not in given]
    return [*given.values(), *_read(db, TASKS, missing, ("project", "job"))]


def _read(db: Database, collection: str, ids: Sequence[ObjectId], extra: tuple[str, ...]) -> list[dict]:
    if not ids:
        return []
    projection = {f: 1 for f in (*extra, *EVENT_FIELDS)}
    return list(db[collection].find({"_id": {"$in": list(dict.fromkeys(ids))}}, projection))
