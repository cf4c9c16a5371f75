"""Fixtures for the security tests: the server app (with the metrics and
OpenAPI blueprints) on this test's database, and the manager's context."""
from __future__ import annotations

import re
from pathlib import Path

import flask
import pytest
from werkzeug.routing import Rule

from flamenco.app import create_app
# The manager's fixtures (fresh manager database, context, settable clock).
from tests.manager.conftest import clock, ctx, manager_settings, manager_url, new_worker  # noqa: F401

# A syntactically valid id that names nothing.
SAMPLE_ID = "5f0000000000000000000001"
_PLACEHOLDER = re.compile(r"<(?:[^:>]+:)?(?P<name>[^>]+)>")
# Sample values for URL placeholders that are not ids.
SAMPLE_VALUES = {"filename": "app.css", "project_url": "some-project", "ack_status": "awake"}


def sample_url(rule: Rule) -> str:
    """A concrete URL matching ``rule``: ids for *_id placeholders, samples for the rest."""
    def fill(match: re.Match) -> str:
        name = match.group("name")
        return SAMPLE_VALUES.get(name, SAMPLE_ID)
    return _PLACEHOLDER.sub(fill, rule.rule)


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    path = tmp_path / "storage"
    path.mkdir()
    return path


@pytest.fixture
def server_app(mongo_uri: str, redis_url: str, storage_dir: Path) -> flask.Flask:
    app = create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True, "CELERY_ENABLED": False,
                      "STORAGE_DIR": str(storage_dir)})
    return app


