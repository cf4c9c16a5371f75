"""flamenco.web.live_feed: publishing on Redis and the per-project SSE stream."""
from __future__ import annotations

import json
import threading
import time

import pytest

from bson import ObjectId

from flamenco.web import live_events, live_feed
from flamenco.farm.services import free_port


def read_events(stream, count: int) -> list[str]:
    """The next ``count`` non-comment messages of an SSE stream."""
    out = []
    for chunk in stream:
        if chunk.startswith(":"):
            continue
        out.append(chunk)
        if len(out) == count:
            return out
    return out


def test_stream_delivers_only_this_projects_events(redis_url):
    project, other = ObjectId(), ObjectId()
    job_id = ObjectId()
    stream = live_feed.sse_stream(project, url=redis_url, heartbeat=0.2)
    hello = next(stream)
    assert "event: hello" in hello and "retry:" in hello

    def publish_soon() -> None:
        live_feed.publish("job", {"_id": ObjectId(), "project": other, "status": "queued"}, url=redis_url)
        live_feed.publish("task", {"_id": ObjectId(), "project": project, "job": job_id, "status": "active",
                                "activity": "rendering", "log": "not sent"}, url=redis_url)

    threading.Timer(0.1, publish_soon).start()
    [message] = read_events(stream, 1)
    stream.close()
    assert message.startswith("event: task\n")
    payload = json.loads(message.split("data: ", 1)[1])
    assert payload == {"kind": "task", "_id": payload["_id"], "project": str(project), "job": str(job_id),
                       "status": "active", "activity": "rendering"}


def test_publish_never_fails_the_caller_when_redis_is_down(monkeypatch, redis_url):
    monkeypatch.setattr(live_feed, "_publish_paused_until", {})
    dead = f"redis://127.0.0.1:{free_port()}/0"
    assert live_feed.publish("job", {"_id": ObjectId(), "project": ObjectId(), "status": "queued"}, url=dead) is False
    # Backing off: calls in the next seconds do not even try that server...
    assert live_feed._publish_paused_until[dead] > time.monotonic()
    # ... but another one still gets its events (e.g. the app's, after a change made outside any app).
    assert live_feed.publish("job", {"_id": ObjectId(), "project": ObjectId(), "status": "queued"}, url=redis_url)


def test_stream_says_so_when_redis_is_down():
    dead = f"redis://127.0.0.1:{free_port()}/0"
    messages = list(live_feed.sse_stream(ObjectId(), url=dead))
    assert len(messages) == 1 and "event: error" in messages[0]


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="kind"):
        live_events.make_event("worker", {"_id": 1})
