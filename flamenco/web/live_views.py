"""The Server-Sent Events stream that keeps a project's open pages up to date.

Each open stream holds one server thread (waitress is a threaded server), so
a process serves at most :func:`max_streams` of them at once and answers 503
beyond that: the browser's EventSource retries by itself, and the API keeps
threads for Managers and other requests.
"""
from __future__ import annotations

import threading
from typing import Iterator

import flask

from flamenco import events
from flamenco.web import access

bp = flask.Blueprint("live", __name__)

# Share of the server's threads that live-update streams may hold.
STREAM_SHARE_OF_THREADS = 0.5
_EXTENSION_KEY = "flamenco_web_streams"


def max_streams(app: flask.Flask) -> int:
    return max(1, int(app.config.get("SERVER_THREADS", 8) * STREAM_SHARE_OF_THREADS))


def stream_slots(app: flask.Flask) -> threading.BoundedSemaphore:
    """The app's counter of open streams (created on first use)."""
    slots = app.extensions.get(_EXTENSION_KEY)
    if slots is None:
        slots = app.extensions.setdefault(_EXTENSION_KEY, threading.BoundedSemaphore(max_streams(app)))
    return slots


class HeldStream:
    """A stream holding one slot, given back when the server closes the response.

    A class rather than a generator: the server calls ``close()`` even when it
    never started iterating (a client that left at once), a generator's
    ``finally`` would not run then.
    """

    def __init__(self, slots: threading.BoundedSemaphore, stream: Iterator[str]) -> None:
        self.slots = slots
        self.stream = stream
        self.released = False

    def __iter__(self) -> Iterator[str]:
        return self.stream

    def close(self) -> None:
        if not self.released:
            self.released = True
            self.slots.release()
        self.stream.close()


@bp.route("/p/<project_url>/events")
@access.login_required
def project_events(project_url: str) -> flask.Response:
    """``text/event-stream`` of the project's job and task changes (see flamenco.events)."""
    acc = access.project_access(project_url)
    slots = stream_slots(flask.current_app)
    if not slots.acquire(blocking=False):
        return flask.Response("Too many live-update connections; retrying shortly.\n", status=503,
                              mimetype="text/plain", headers={"Retry-After": "10"})
    stream = events.sse_stream(acc.project["_id"], url=events.redis_url())
    return flask.Response(HeldStream(slots, stream), mimetype="text/event-stream", headers={
        "Cache-Control": "no-cache",
        # Stops nginx-style proxies from buffering the stream.
        "X-Accel-Buffering": "no",
    })
