"""Live updates: announce job/task changes on Redis pub/sub, stream them as SSE.

Whoever changes a job or task announces it on :mod:`flamenco.eventbus`; the
dashboard's listener there (:mod:`flamenco.web.live_feed`) calls
:func:`publish_many`; every open dashboard page of that project holds one
Server-Sent Events stream (:func:`sse_stream`) fed from the same Redis channel.
Redis pub/sub keeps this working across several server processes.

Publishing is best-effort on purpose: a dashboard that misses an update is a
cosmetic problem, a status change that fails because Redis is down is not. So
:func:`publish` never raises, and after a failure it stops trying for a short
while instead of paying a connection time-out on every call.

Each publish also updates the dashboard's read models in Redis: the per-job
task index (``flamenco.web.task_index``), the per-project job rows
(``flamenco.web.job_index``), the job-list cache
(``flamenco.web.job_cache``) and the workers each Manager reported
(``flamenco.web.workers_seen``), so pages rarely have to scan big collections.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import time
from typing import Any, Generator, Iterable, Mapping

import redis

log = logging.getLogger(__name__)

CHANNEL = "flamenco:events"
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
# Only these fields of a job/task document travel in an event: enough to
# update a page in place, never whole documents (task logs can be large).
EVENT_FIELDS = (
    "name", "status", "status_reason", "activity", "worker", "priority",
    "job_type", "task_type", "task_progress_percentage", "_updated", "_created", "manager", "user",
)
KINDS = ("job", "task")
# The status of a job event announcing that the job was deleted.
DELETED = "deleted"

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


def jsonable(value: Any) -> Any:
    """ObjectIds become strings, datetimes ISO-8601, lists element-wise; the rest as is."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def make_event(kind: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-ready event for a job or task document (or a partial one).

    A job is its own ``job``; a task names its job. Only :data:`EVENT_FIELDS`
    present in ``doc`` are copied.
    """
    if kind not in KINDS:
        raise ValueError(f"event kind must be one of {KINDS}, not {kind!r}")
    event: dict[str, Any] = {
        "kind": kind,
        "_id": jsonable(doc.get("_id")),
        "project": jsonable(doc.get("project")),
        "job": jsonable(doc.get("_id") if kind == "job" else doc.get("job")),
    }
    for field in EVENT_FIELDS:
        if field in doc:
            event[field] = jsonable(doc[field])
    return event


def publish_many(kind: str, docs: Iterable[Mapping[str, Any]], *, url: str | None = None,
                 tasks_changed: bool = True) -> bool:
    """Announce changed documents in one round trip; ``False`` if Redis was unreachable.

    For a job event, pass ``tasks_changed=False`` when none of its tasks
    changed along with it (e.g. ``JobStatusChange.tasks_modified == 0``): the
    dashboard then keeps its task index of that job instead of rebuilding it.
    Never raises for Redis trouble: the change itself already happened.
    """
    from flamenco.web import job_cache, job_index, task_index, workers_seen

    events = [make_event(kind, doc) for doc in docs]
    if not events:
        return True
    url = url or redis_url()
    if time.monotonic() < _publish_paused_until.get(url, 0.0):
        return False
    try:
        pipe = client(url).pipeline(transaction=False)
        for event in events:
            task_index.queue_event(pipe, event, tasks_changed=tasks_changed)
            job_index.queue_event(pipe, event)
            job_cache.queue_job_event(pipe, event)
            workers_seen.queue_event(pipe, event)
            pipe.publish(CHANNEL, json.dumps(event))
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
            raw = message["data"].decode() if isinstance(message["data"], bytes) else message["data"]
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if event.get("project") == project:
                yield _sse(raw, event.get("kind"))
    finally:
        pubsub.close()
        connection.close()
