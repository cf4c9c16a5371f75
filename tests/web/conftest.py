"""Fixtures of the dashboard tests: a built frontend, an app, people, and a logged-in client."""
from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import flask
import pytest
from bson import ObjectId
from pymongo.database import Database

from flamenco import users
from flamenco.app import create_app
from flamenco.web import defaults
from tests.support.server import make_manager, make_project, make_user

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf-token" content="([^"]+)"')


@pytest.fixture(scope="session")
def dashboard_built() -> Path:
    """The gulp build output; built once if missing (``./dev`` normally builds it)."""
    if not defaults.TEMPLATES_DIR.is_dir():
        if not (REPO_ROOT / "node_modules").is_dir() or not shutil.which("npx"):
            pytest.fail("the dashboard is not built and cannot be: run `npm ci && npx gulp build`")
        subprocess.run(["npx", "gulp", "build"], cwd=REPO_ROOT, check=True, capture_output=True)
    return defaults.DIST_DIR


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    """The server's storage directory (archives, uploaded task logs)."""
    return tmp_path / "storage"


@pytest.fixture
def app(mongo_uri: str, redis_url: str, dashboard_built: Path, storage_dir: Path) -> flask.Flask:
    return create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True,
                       "SECRET_KEY": "web-tests", "CELERY_ENABLED": False, "STORAGE_DIR": str(storage_dir)})


@pytest.fixture(scope="session")
def password_hash() -> str:
    """bcrypt of PASSWORD, computed once: bcrypt is slow on purpose."""
    return users.hash_password(PASSWORD)


def make_person(db: Database, username: str, full_name: str, password_hash: str) -> dict:
    """A user who can log in with PASSWORD."""
    user = make_user(db, username, full_name=full_name)
    db["users"].update_one({"_id": user["_id"]}, {"$set": {"password_hash": password_hash}})
    return user


@pytest.fixture
def farm(mongo_db: Database, password_hash: str) -> dict:
    """A project with a member, a viewer, an outsider and one Manager."""
    alice = make_person(mongo_db, "alice", "Alice Artist", password_hash)
    vic = make_person(mongo_db, "vic", "Vic Viewer", password_hash)
    olga = make_person(mongo_db, "olga", "Olga Outsider", password_hash)
    project = make_project(mongo_db, "Spring Shot", members=[(alice, "admin"), (vic, "viewer")], url="spring")
    manager, manager_token = make_manager(mongo_db, projects=[project], owner=alice, name="Studio Manager")
    return {"alice": alice, "vic": vic, "olga": olga, "project": project, "manager": manager,
            "manager_token": manager_token}


def csrf_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


def login(client: flask.testing.FlaskClient, username: str, password: str = PASSWORD):
    """Log in through the form, as a browser does; returns the POST response."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def client_as(app: flask.Flask, farm: dict):
    """``client_as("alice")`` gives a test client logged in as that user."""
    def make(username: str) -> flask.testing.FlaskClient:
        client = app.test_client()
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return make


def insert_job(db: Database, farm: dict, *, name: str = "job", status: str = "queued",
               task_statuses: tuple[str, ...] = ("queued",), job_type: str = "sleep",
               updated: datetime.datetime | None = None, **fields) -> dict:
    """A job with tasks in the given statuses, inserted in bulk as the compiler does."""
    now = updated or datetime.datetime.now(datetime.timezone.utc)
    job = {"_id": ObjectId(), "name": name, "status": status, "job_type": job_type,
           "project": farm["project"]["_id"], "manager": farm["manager"]["_id"], "user": farm["alice"]["_id"],
           "priority": 50, "settings": {"frames": "1-4"}, "_created": now, "_updated": now, "_etag": "x"}
    job.update(fields)
    db["flamenco_jobs"].insert_one(job)
    tasks = [{"_id": ObjectId(), "job": job["_id"], "project": job["project"], "manager": job["manager"],
              "user": job["user"], "name": f"{name}-task-{i}", "status": s, "priority": 50,
              "job_priority": 50, "job_type": job_type, "task_type": "sleep",
              "commands": [{"name": "sleep", "settings": {"time_in_seconds": 1}}],
              "_created": now, "_updated": now, "_etag": "x"}
             for i, s in enumerate(task_statuses)]
    if tasks:
        db["flamenco_tasks"].insert_many(tasks)
    job["tasks"] = tasks
    return job


@pytest.fixture
def jobs_of(mongo_db: Database, farm: dict):
    def make(**kwargs) -> dict:
        return insert_job(mongo_db, farm, **kwargs)
    return make


@pytest.fixture
def alice(client_as) -> Iterator[flask.testing.FlaskClient]:
    yield client_as("alice")
