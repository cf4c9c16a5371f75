"""The per-project SSE endpoint of the dashboard."""
from __future__ import annotations

import json

from bson import ObjectId

from flamenco import events
from flamenco.web import live_views


def test_stream_of_a_project(alice, farm, redis_url):
    response = alice.get("/p/spring/events")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert b"event: hello" in next(chunks)
    events.publish("job", {"_id": ObjectId(), "project": farm["project"]["_id"], "status": "active"}, url=redis_url)
    message = next(c for c in chunks if not c.startswith(b":"))
    assert json.loads(message.split(b"data: ", 1)[1])["status"] == "active"
    response.close()


def test_streams_are_limited_per_process(app, client_as, farm):
    alice = client_as("alice")
    limit = live_views.max_streams(app)
    open_streams = [alice.get("/p/spring/events") for _ in range(limit)]
    assert all(r.status_code == 200 for r in open_streams)
    refused = alice.get("/p/spring/events")
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    open_streams[0].close()
    again = alice.get("/p/spring/events")
    assert again.status_code == 200
    for response in open_streams[1:] + [again]:
        response.close()


def test_outsider_gets_no_stream(client_as, farm):
    assert client_as("olga").get("/p/spring/events").status_code == 404
