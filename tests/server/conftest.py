"""Fixtures for the server-core tests: an app on this test's database and a
small world of two projects, their users and Managers."""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import flask
import pytest
from pymongo.database import Database

from flamenco.app import create_app
from tests.support.server import make_manager, make_project, make_token, make_user


class Api:
    """Flask test client calls with a token, returning (status, json)."""

    def __init__(self, client: flask.testing.FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, *, json: Any = None, data: Any = None,
                headers: dict | None = None, query: dict | None = None):
        return self.client.open(path, method=method, json=json, data=data,
                                headers=self.headers(headers), query_string=query)

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def app(mongo_uri: str, redis_url: str) -> flask.Flask:
    return create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True,
                       "CELERY_ENABLED": False})


@pytest.fixture
def client(app: flask.Flask) -> Iterator[flask.testing.FlaskClient]:
    with app.test_client() as c:
        yield c


@dataclasses.dataclass
class World:
    """Two projects; alice (admin of A), bob (member of B), vera (viewer of A),
    a superuser, and one Manager per project."""

    db: Database
    client: flask.testing.FlaskClient
    project_a: dict
    project_b: dict
    alice: dict
    bob: dict
    vera: dict
    root: dict
    manager_a: dict
    manager_b: dict
    tokens: dict[str, str]

    def api(self, who: str | None) -> Api:
        return Api(self.client, self.tokens[who] if who else None)


@pytest.fixture
def world(mongo_db: Database, client: flask.testing.FlaskClient) -> World:
    # alice may also set RNA overrides and executables (flamenco.jobs.program_gate); bob may not.
    alice = make_user(mongo_db, "alice", roles=("flamenco-user", "flamenco-programmer"), full_name="Alice A",
                      email="alice@example.com")
    bob = make_user(mongo_db, "bob")
    vera = make_user(mongo_db, "vera", roles=("flamenco-viewer",))
    root = make_user(mongo_db, "root", roles=("admin",))
    project_a = make_project(mongo_db, "Project A", members=[(alice, "admin"), (vera, "viewer")])
    project_b = make_project(mongo_db, "Project B", members=[(bob, "member")])
    manager_a, token_ma = make_manager(mongo_db, projects=[project_a], owner=alice, name="Manager A")
    manager_b, token_mb = make_manager(mongo_db, projects=[project_b], owner=bob, name="Manager B")
    tokens = {name: make_token(mongo_db, user) for name, user in
              (("alice", alice), ("bob", bob), ("vera", vera), ("root", root))}
    tokens["manager_a"] = token_ma
    tokens["manager_b"] = token_mb
    return World(mongo_db, client, project_a, project_b, alice, bob, vera, root, manager_a, manager_b, tokens)
