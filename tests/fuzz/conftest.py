"""Fixtures for fuzzing: one server app and one manager app per module, each on
its own fresh database with a small world (users, project, Manager, job,
workers), and schemathesis schemas loaded from the apps' own descriptions."""
from __future__ import annotations

import dataclasses
import secrets
import uuid
from typing import Iterator

import flask
import pymongo
import pytest
import schemathesis
from pymongo.database import Database

from flamenco import openapi as server_openapi
from flamenco.app import create_app
from flamenco_manager import openapi as manager_openapi
from tests.support.manager_client import ManagerClient
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from flamenco_manager.tasks import store_downloaded
from tests.conftest import with_database
from tests.manager.support import server_task
from tests.support.server import make_job, make_manager, make_project, make_token, make_user



@dataclasses.dataclass
class ServerWorld:
    """What the fuzzer's requests can refer to on the server."""

    app: flask.Flask
    admin_token: str
    manager_token: str
    ids: dict[str, str]  # resource -> an existing document id


@dataclasses.dataclass
class ManagerWorld:
    client: ManagerClient  # the manager over real HTTP (aiohttp in its engine's loop)
    auth: tuple[str, str]  # a registered worker's (id, secret)
    task_id: str


@pytest.fixture(scope="module")
def fuzz_db(mongo_server: str) -> Iterator[tuple[str, Database]]:
    """A fresh database shared by one fuzz module (fuzzing is slow to set up per test)."""
    name = "fuzz_" + uuid.uuid4().hex[:12]
    uri = with_database(mongo_server, name)
    client = pymongo.MongoClient(uri, tz_aware=True)
    yield uri, client.get_default_database()
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="module")
def server_world(fuzz_db: tuple[str, Database], redis_server: str) -> ServerWorld:
    uri, db = fuzz_db
    app = create_app({"MONGO_URI": uri, "REDIS_URL": redis_server + "/1", "TESTING": True,
                      "CELERY_ENABLED": False})
    admin = make_user(db, "fuzz-admin", roles=("admin",))
    project = make_project(db, "Fuzz", members=[(admin, "admin")])
    manager, manager_token = make_manager(db, projects=[project], owner=admin)
    job = make_job(db, project, manager, admin)
    task = db["flamenco_tasks"].find_one({"job": job["_id"]})
    ids = {"flamenco_jobs": job["_id"], "flamenco_tasks": task["_id"], "flamenco_managers": manager["_id"],
           "projects": project["_id"], "users": admin["_id"]}
    return ServerWorld(app=app, admin_token=make_token(db, admin), manager_token=manager_token,
                       ids={k: str(v) for k, v in ids.items()})


@pytest.fixture(scope="module")
def server_schema(server_world: ServerWorld):
    return schemathesis.openapi.from_wsgi(server_openapi.DESCRIPTION_PATH, server_world.app)


@pytest.fixture(scope="module")
def manager_world(fuzz_db: tuple[str, Database], tmp_path_factory: pytest.TempPathFactory) -> ManagerWorld:
    uri, _ = fuzz_db
    manager_uri = uri.replace("/fuzz_", "/fuzzmgr_", 1)
    config = build_config({"database_url": manager_uri, "flamenco": "http://127.0.0.1:9/", "worker_registration_open": True,
                           "task_logs_path": str(tmp_path_factory.mktemp("task-logs"))})
    ctx = ManagerContext.create(config)
    client = ManagerClient(ctx)
    task = server_task()
    store_downloaded(ctx, [task, server_task()])
    secret = secrets.token_hex(32)
    resp = client.post("/register-worker", json={
        "secret": secret, "platform": "linux", "supported_task_types": ["sleep"], "nickname": "fuzzer"})
    assert resp.status_code == 200
    yield ManagerWorld(client=client, auth=(resp.json["_id"], secret), task_id=task["_id"])
    ctx.close()
    with pymongo.MongoClient(manager_uri) as client:
        client.drop_database(client.get_default_database().name)


@pytest.fixture(scope="module")
def manager_schema(manager_world: ManagerWorld):
    return schemathesis.openapi.from_url(manager_world.client.base + manager_openapi.DESCRIPTION_PATH)
