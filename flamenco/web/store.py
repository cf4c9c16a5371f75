"""The dashboard's Redis handle and id parsing (the database comes from ``flamenco.store``)."""
from __future__ import annotations

import flask
import redis
from bson import ObjectId
from bson.errors import InvalidId

from flamenco.web import live_feed

# The dashboard's Redis reads (cached counts) must never hang a page.
REDIS_SOCKET_TIMEOUT = 0.5
_EXTENSION_KEY = "flamenco_web_redis"


def cache() -> redis.Redis:
    """A Redis client on the app's ``REDIS_URL``, shared by the app's threads."""
    app = flask.current_app
    client = app.extensions.get(_EXTENSION_KEY)
    if client is None:
        client = redis.Redis.from_url(live_feed.redis_url(), socket_timeout=REDIS_SOCKET_TIMEOUT,
                                      socket_connect_timeout=REDIS_SOCKET_TIMEOUT)
        app.extensions[_EXTENSION_KEY] = client
    return client


def object_id_or_404(value: str) -> ObjectId:
    """Parse an id from a URL; a malformed one is simply 'not found'."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        flask.abort(404)
