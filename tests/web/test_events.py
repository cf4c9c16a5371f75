"""flamenco.web.live_feed: publishing on Redis and the per-project SSE stream."""
from __future__ import annotations

import json
import threading
import time

import pytest
import redis
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


def test_many_events_travel_as_one_message_per_project_and_reach_the_stream_one_by_one(redis_url):
    """One publish of a batch's changes is one pub/sub message per project (every stream of
    every server process decodes each message); the browser still gets one SSE message per event."""
    import redis

    project, other = ObjectId(), ObjectId()
    job_id = ObjectId()
    tasks = [{"_id": ObjectId(), "project": project, "job": job_id, "status": "active"} for _ in range(50)]
    listener = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(live_events.CHANNEL)
    stream = live_feed.sse_stream(project, url=redis_url, heartbeat=0.2)
    next(stream)  # hello

    def publish_soon() -> None:
        live_feed.publish_many("task", [*tasks[:25], {"_id": ObjectId(), "project": other, "job": ObjectId(),
                                                      "status": "queued"}, *tasks[25:]], url=redis_url)

    threading.Timer(0.1, publish_soon).start()
    messages = read_events(stream, 50)
    stream.close()
    assert [json.loads(m.split("data: ", 1)[1])["_id"] for m in messages] == [str(t["_id"]) for t in tasks]
    published = []
    deadline = time.monotonic() + 5
    while len(published) < 2 and time.monotonic() < deadline:
        message = listener.get_message(timeout=0.5)  # None for the subscription notice too
        if message is not None:
            published.append(live_events.events_of(message["data"]))
    assert listener.get_message(timeout=0.3) is None
    listener.close()
    assert [(p, len(events)) for p, events in published] == [(str(project), 50), (str(other), 1)]
