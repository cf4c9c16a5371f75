"""The Server-Sent Events stream that keeps a project's open pages up to date.

Each open stream holds one server thread (waitress is a threaded server).
``flamenco server`` adds ``LIVE_STREAMS_MAX`` threads to its ``SERVER_THREADS``
for them, so streams never take the threads Managers and other requests need.
Two caps share those threads fairly (issue 13: one user's 4 streams used to
block every project): one user holds at most ``LIVE_STREAMS_PER_USER`` streams
(429 beyond), and the process at most ``LIVE_STREAMS_MAX`` (503 beyond). The
browser's EventSource retries by itself in both cases.
"""
from __future__ import annotations

import collections
import threading
from typing import Generator, Hashable, Iterator

import flask

from flamenco.web import live_feed
from flamenco.web import access

bp = flask.Blueprint("live", __name__)

_EXTENSION_KEY = "flamenco_web_streams"
# Seconds a refused browser is asked to wait: about one heartbeat, long enough
# for a closed tab's stream to notice and give its slot back.
RETRY_AFTER_SECONDS = 10


class StreamSlots:
    """Counts open streams, in total and per user; thread-safe."""

    def __init__(self, max_total: int, max_per_user: int) -> None:
        self.max_total = max_total
        self.max_per_user = max_per_user
        self._lock = threading.Lock()
        self._per_user: collections.Counter[Hashable] = collections.Counter()

    def acquire(self, user: Hashable) -> int | None:
        """Take a slot for ``user``: None on success, else the HTTP status of the refusal
        (429 if the user holds their maximum, 503 if the process is full)."""
        with self._lock:
            if self._per_user[user] >= self.max_per_user:
                return 429
            if self.total() >= self.max_total:
                return 503
            self._per_user[user] += 1
            return None

    def release(self, user: Hashable) -> None:
        with self._lock:
            if self._per_user[user] <= 1:
                del self._per_user[user]
            else:
                self._per_user[user] -= 1

    def total(self) -> int:
        return sum(self._per_user.values())

    def held_by(self, user: Hashable) -> int:
        return self._per_user[user]


def stream_slots(app: flask.Flask) -> StreamSlots:
    """The app's counter of open streams (created on first use)."""
    slots = app.extensions.get(_EXTENSION_KEY)
    if slots is None:
        slots = app.extensions.setdefault(_EXTENSION_KEY, StreamSlots(
            max_total=max(1, int(app.config["LIVE_STREAMS_MAX"])),
            max_per_user=max(1, int(app.config["LIVE_STREAMS_PER_USER"]))))
    return slots


class HeldStream:
    """A stream holding one of ``user``'s slots, given back when the server closes the response.

    A class rather than a generator: the server calls ``close()`` even when it
    never started iterating (a client that left at once), a generator's
    ``finally`` would not run then. Waitress closes the response when a write
    fails, so a client that went away is noticed at the next heartbeat
    (``live_feed.SSE_HEARTBEAT_SECONDS``).
    """

    def __init__(self, slots: StreamSlots, user: Hashable, stream: Generator[str, None, None]) -> None:
        self.slots = slots
        self.user = user
        self.stream = stream
        self.released = False

    def __iter__(self) -> Iterator[str]:
        return self.stream

    def close(self) -> None:
        if not self.released:
            self.released = True
            self.slots.release(self.user)
        self.stream.close()


@bp.route("/p/<project_url>/events")
@access.login_required
def project_events(project_url: str) -> flask.Response:
    """``text/event-stream`` of the project's job and task changes (see flamenco.web.live_feed)."""
    acc = access.project_access(project_url)
    slots = stream_slots(flask.current_app)
    user = acc.user.user_id
    refusal = slots.acquire(user)
    if refusal == 429:
        return flask.Response("Too many live-update connections of yours (close some tabs); retrying shortly.\n",
                              status=429, mimetype="text/plain",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if refusal is not None:
        return flask.Response("Too many live-update connections; retrying shortly.\n", status=503,
                              mimetype="text/plain", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    stream = live_feed.sse_stream(acc.project["_id"], url=live_feed.redis_url())
    return flask.Response(HeldStream(slots, user, stream), mimetype="text/event-stream", headers={
        "Cache-Control": "no-cache",
        # Stops nginx-style proxies from buffering the stream.
        "X-Accel-Buffering": "no",
    })
