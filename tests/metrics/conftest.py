"""Fixtures for the metrics tests: a server app and a manager context on fresh databases."""
from __future__ import annotations

import flask
import pytest

from flamenco.app import create_app
# The manager's fixtures (fresh manager database, context, settable clock).
from tests.manager.conftest import clock, ctx, manager_settings  # noqa: F401


@pytest.fixture
def server_app(mongo_uri: str, redis_url: str) -> flask.Flask:
    """The server (its app factory registers /metrics)."""
    return create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True, "CELERY_ENABLED": False})
