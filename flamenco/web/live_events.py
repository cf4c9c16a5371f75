"""What a live update looks like: the job/task fields that travel, and their JSON form.

Shared by the publisher (:mod:`flamenco.web.live_feed`), the SSE stream and the
read models (:mod:`flamenco.web.row_index`), which keep the same fields.
"""
from __future__ import annotations

import datetime
import json
from typing import Any, Mapping

# The Redis pub/sub channel all server processes publish to and stream from.
# Each message carries one project's events of one publish (:func:`channel_message`).
CHANNEL = "flamenco:events"
# Only these fields of a job/task document travel in an event: enough to
# update a page in place, never whole documents (task logs can be large).
EVENT_FIELDS = (
    "name", "status", "status_reason", "activity", "worker", "priority",
    "job_type", "task_type", "task_progress_percentage", "_updated", "_created", "manager", "user",
    # When the job's preview image last changed (flamenco.manager_api.last_rendered).
    "last_rendered",
)
KINDS = ("job", "task")
# The status of a job event announcing that the job was deleted.
DELETED = "deleted"


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


def channel_message(project: str | None, events: list[dict[str, Any]]) -> str:
    """One pub/sub message for a project's events of one publish.

    Why one message and not one per event: a task-update batch or a depsgraph
    claim changes a thousand tasks at once, and every SSE stream of every
    server process decodes every message on the channel. The stream splits the
    message into one SSE message per event again, so browsers see no difference.
    """
    return json.dumps({"project": project, "events": events})


def events_of(raw: str | bytes) -> tuple[Any, list[dict[str, Any]]]:
    """``(project, events)`` of a pub/sub message; no events if it is not one of ours."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None, []
    if not isinstance(message, dict) or not isinstance(message.get("events"), list):
        return None, []
    return message.get("project"), [e for e in message["events"] if isinstance(e, dict)]
