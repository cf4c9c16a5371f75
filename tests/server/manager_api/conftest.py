"""Fixtures for the Manager API tests: an app with a storage dir, Manager clients, a job."""
from __future__ import annotations

import base64
from pathlib import Path

import flask
import pytest

from flamenco.app import create_app
from tests.server.conftest import World
from tests.support.server import make_job


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
def app(mongo_uri: str, redis_url: str, storage_dir: Path) -> flask.Flask:
    return create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True,
                       "CELERY_ENABLED": False, "STORAGE_DIR": str(storage_dir)})


def basic_auth(token: str) -> dict:
    """What Flamenco Manager 2.x sends: the token as Basic username, empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}


class ManagerClient:
    """Calls the Manager API as one Manager, the way Flamenco Manager 2.x does."""

    def __init__(self, world: World, name: str) -> None:
        self.client = world.client
        self.manager = getattr(world, name)
        self.token = world.tokens[name]
        self.base = f"/api/flamenco/managers/{self.manager['_id']}"

    def get(self, path: str, headers: dict | None = None):
        return self.client.get(self.base + path, headers={**basic_auth(self.token), **(headers or {})})

    def post(self, path: str, **kw):
        headers = {**basic_auth(self.token), **kw.pop("headers", {})}
        return self.client.post(self.base + path, headers=headers, **kw)


@pytest.fixture
def mgr_a(world: World) -> ManagerClient:
    return ManagerClient(world, "manager_a")


@pytest.fixture
def mgr_b(world: World) -> ManagerClient:
    return ManagerClient(world, "manager_b")


@pytest.fixture
def job(world: World) -> dict:
    """A queued sleep job of project A on Manager A: 3 tasks (frames 1-12, chunks of 4)."""
    return make_job(world.db, world.project_a, world.manager_a, world.alice)
