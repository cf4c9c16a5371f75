"""The per-project SSE endpoint of the dashboard."""
from __future__ import annotations

import json

from bson import ObjectId

from flamenco.web import live_feed
from flamenco.web import live_views


def test_stream_of_a_project(alice, farm, redis_url):
    response = alice.get("/p/spring/events")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert b"event: hello" in next(chunks)
    live_feed.publish("job", {"_id": ObjectId(), "project": farm["project"]["_id"], "status": "active"}, url=redis_url)
    message = next(c for c in chunks if not c.startswith(b":"))
    assert json.loads(message.split(b"data: ", 1)[1])["status"] == "active"
    response.close()


def test_one_users_streams_do_not_block_another_user(app, client_as, farm):
    """Issue 13: one user's extra streams are refused (429) while another user still gets one."""
    per_user = app.config["LIVE_STREAMS_PER_USER"]
    assert app.config["LIVE_STREAMS_MAX"] > per_user
    alice, vic = client_as("alice"), client_as("vic")
    open_streams = [alice.get("/p/spring/events") for _ in range(per_user)]
    assert all(r.status_code == 200 for r in open_streams)
    refused = alice.get("/p/spring/events")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    other = vic.get("/p/spring/events")
    assert other.status_code == 200
    open_streams[0].close()
    again = alice.get("/p/spring/events")
    assert again.status_code == 200
    for response in open_streams[1:] + [again, other]:
        response.close()
    assert live_views.stream_slots(app).total() == 0


def test_streams_are_limited_per_process(app, client_as, farm):
    app.config.update(LIVE_STREAMS_PER_USER=2, LIVE_STREAMS_MAX=3)
    alice, vic = client_as("alice"), client_as("vic")
    open_streams = [alice.get("/p/spring/events"), alice.get("/p/spring/events"), vic.get("/p/spring/events")]
    assert all(r.status_code == 200 for r in open_streams)
    refused = vic.get("/p/spring/events")
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    open_streams[0].close()
    again = vic.get("/p/spring/events")
    assert again.status_code == 200
    for response in open_streams[1:] + [again]:
        response.close()


def test_a_stream_gives_its_slot_back_when_closed(app, client_as, farm):
    """The server closes the response when the client goes: started or not, the slot is freed once."""
    slots = live_views.stream_slots(app)
    user = farm["alice"]["_id"]
    alice = client_as("alice")
    started = alice.get("/p/spring/events")
    assert b"event: hello" in next(iter(started.response))
    never_read = alice.get("/p/spring/events")
    assert slots.held_by(user) == 2
    started.close()
    never_read.close()
    never_read.close()
    assert slots.held_by(user) == 0 and slots.total() == 0


def test_closing_a_held_stream_closes_its_generator():
    closed = []

    def stream():
        try:
            yield "hello"
            yield "more"
        finally:
            closed.append(True)

    slots = live_views.StreamSlots(max_total=2, max_per_user=1)
    assert slots.acquire("u") is None
    assert slots.acquire("u") == 429
    held = live_views.HeldStream(slots, "u", stream())
    assert next(iter(held)) == "hello"
    held.close()
    assert closed == [True] and slots.total() == 0
    assert slots.acquire("u") is None


def test_outsider_gets_no_stream(client_as, farm):
    assert client_as("olga").get("/p/spring/events").status_code == 404
