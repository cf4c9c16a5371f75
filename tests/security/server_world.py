"""A small server world for the security tests: an admin, a member, a viewer,
one project with a Manager, a job with tasks (one carrying a log), and a client
per caller.

Import the fixtures into a test module (``from tests.security.server_world
import world  # noqa: F401``): ``world`` is fresh per test (on this
directory's ``server_app``), ``shared_world`` is built once per module for
tests that only read or are refused.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
import uuid
from pathlib import Path
from typing import Any, Iterator

import flask
import pymongo
import pytest
import redis
from pymongo.database import Database

from flamenco import users
from flamenco.app import create_app
from tests.conftest import with_database
from tests.support.server import make_job, make_manager, make_project, make_token, make_user

ADMIN_PASSWORD = "admin password that nobody guesses"
# Per-test apps use Redis database 0 (flushed around each test); the shared world its own.
SHARED_WORLD_REDIS_DB = "1"
TASK_LOG = "Saved: /render/frame_0001.png\nsecret path /home/admin/.ssh\n"


@functools.lru_cache(maxsize=None)
def admin_password_hash() -> str:
    """bcrypt of ADMIN_PASSWORD, computed once: bcrypt is slow on purpose."""
    return users.hash_password(ADMIN_PASSWORD)


@dataclasses.dataclass
class World:
    """Everyone and everything the security tests act on."""

    app: flask.Flask
    db: Database
    admin: dict
    member: dict
    viewer: dict
    project: dict
    manager: dict
    job: dict
    task: dict
    tokens: dict[str, str]

    def client(self) -> flask.testing.FlaskClient:
        return self.app.test_client()

    def headers(self, who: str) -> dict[str, str]:
        """Authorization for ``who``: Bearer for people, Basic (as Flamenco 2 Managers send) for the Manager."""
        token = self.tokens[who]
        if who == "manager":
            return {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}
        return {"Authorization": f"Bearer {token}"}

    def call(self, who: str, method: str, path: str, **kw: Any):
        headers = {**self.headers(who), **kw.pop("headers", {})}
        return self.client().open(path, method=method, headers=headers, **kw)

    def get(self, who: str, path: str, **kw: Any):
        return self.call(who, "GET", path, **kw)


def build_world(app: flask.Flask, db: Database) -> World:
    admin = make_user(db, "farm-admin", roles=("admin",), email="admin@example.com")
    db["users"].update_one({"_id": admin["_id"]}, {"$set": {"password_hash": admin_password_hash()}})
    member = make_user(db, "member", email="member@example.com")
    viewer = make_user(db, "viewer", roles=("flamenco-viewer",))
    project = make_project(db, "Secure", members=[(member, "member"), (viewer, "viewer")], url="secure")
    manager, manager_token = make_manager(db, projects=[project], owner=member, name="Secure Manager")
    job = make_job(db, project, manager, member, settings={"frames": "1-8", "chunk_size": 4, "time_in_seconds": 1})
    task = db["flamenco_tasks"].find_one({"job": job["_id"]})
    db["flamenco_tasks"].update_one({"_id": task["_id"]}, {"$set": {"log": TASK_LOG}})
    tokens = {name: make_token(db, user) for name, user in
              (("admin", admin), ("member", member), ("viewer", viewer))}
    tokens["manager"] = manager_token
    return World(app, db, admin, member, viewer, project, manager, job, task, tokens)


@pytest.fixture
def world(server_app: flask.Flask, mongo_db: Database) -> World:
    return build_world(server_app, mongo_db)


@pytest.fixture(scope="module")
def shared_world(mongo_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for a whole module, on its own database (dropped afterwards)."""
    name = "t_" + uuid.uuid4().hex[:16]
    uri = with_database(mongo_server, name)
    redis_url = redis_server + "/" + SHARED_WORLD_REDIS_DB
    storage: Path = tmp_path_factory.mktemp("storage")
    app = create_app({"MONGO_URI": uri, "REDIS_URL": redis_url, "TESTING": True,
                      "CELERY_ENABLED": False, "STORAGE_DIR": str(storage)})
    client = pymongo.MongoClient(uri, tz_aware=True)
    try:
        yield build_world(app, client.get_default_database())
    finally:
        client.drop_database(name)
        client.close()
        with redis.Redis.from_url(redis_url) as cache:
            cache.flushdb()
