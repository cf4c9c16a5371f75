"""A worker cannot act for another worker; a Manager cannot act for another Manager."""
from __future__ import annotations

import secrets

import flask
import pytest
from bson import ObjectId
from pymongo.database import Database

from flamenco_manager import store as dbmod
from flamenco_manager.context import ManagerContext
from flamenco_manager import tasks
from flamenco_manager.tasks import store_downloaded
from tests.manager.support import server_task
from tests.support.manager_client import ManagerClient
from tests.support.server import make_job, make_manager, make_project, make_user


class Worker:
    def __init__(self, client: flask.testing.FlaskClient, nickname: str) -> None:
        self.client = client
        self.secret = secrets.token_hex(32)
        resp = client.post("/register-worker", json={"secret": self.secret, "platform": "linux",
                                                     "supported_task_types": ["sleep"], "nickname": nickname})
        assert resp.status_code == 200
        self.id = resp.json["_id"]

    def call(self, method: str, path: str, **kwargs):
        return self.client.open(path, method=method, auth=(self.id, self.secret), **kwargs)


@pytest.fixture
def two_workers_one_task(ctx: ManagerContext):
    task = server_task()
    store_downloaded(ctx, [task])
    client = ManagerClient(ctx)
    owner, intruder = Worker(client, "owner"), Worker(client, "intruder")
    resp = owner.call("POST", "/task")
    assert resp.status_code == 200 and resp.json["_id"] == task["_id"]
    return owner, intruder, task["_id"]


def test_other_worker_cannot_update_the_task(ctx: ManagerContext, two_workers_one_task) -> None:
    owner, intruder, task_id = two_workers_one_task
    queued_before = ctx.store.db[dbmod.UPDATE_QUEUE].count_documents({})

    resp = intruder.call("POST", f"/tasks/{task_id}/update", json={"task_status": "completed"})

    assert resp.status_code == 409
    task = tasks.find_task(ctx, ObjectId(task_id))
    assert task["status"] == "active"
    assert str(task["worker_id"]) == owner.id
    assert ctx.store.db[dbmod.UPDATE_QUEUE].count_documents({}) == queued_before


def test_other_worker_cannot_return_the_task(ctx: ManagerContext, two_workers_one_task) -> None:
    owner, intruder, task_id = two_workers_one_task

    intruder.call("POST", f"/tasks/{task_id}/return")

    task = tasks.find_task(ctx, ObjectId(task_id))
    assert task["status"] == "active"
    assert str(task["worker_id"]) == owner.id
    assert owner.call("GET", f"/may-i-run/{task_id}").json["may_keep_running"] is True


def test_other_worker_may_not_run_the_task(two_workers_one_task) -> None:
    _, intruder, task_id = two_workers_one_task
    answer = intruder.call("GET", f"/may-i-run/{task_id}").json
    assert answer["may_keep_running"] is False


def test_worker_credentials_do_not_mix(two_workers_one_task) -> None:
    owner, intruder, task_id = two_workers_one_task
    resp = intruder.client.post(f"/tasks/{task_id}/update", json={"task_status": "completed"},
                                auth=(owner.id, intruder.secret))
    assert resp.status_code == 401


@pytest.fixture
def two_managers(server_app: flask.Flask, mongo_db: Database):
    user = make_user(mongo_db, "owner-of-both")
    project = make_project(mongo_db, "Two Managers", members=[(user, "admin")])
    mine, _ = make_manager(mongo_db, projects=[project], owner=user, name="Mine")
    theirs, their_token = make_manager(mongo_db, projects=[project], owner=user, name="Theirs")
    job = make_job(mongo_db, project, mine, user)
    return mine, their_token, job


@pytest.mark.parametrize("method, suffix", [("GET", "depsgraph"), ("POST", "startup"), ("POST", "update"),
                                            ("POST", "task-update-batch")])
def test_manager_cannot_use_another_managers_api(server_app: flask.Flask, two_managers, method: str,
                                                 suffix: str) -> None:
    mine, their_token, _ = two_managers
    body = [] if suffix == "task-update-batch" else {"manager_url": "http://x/", "variables": {},
                                                     "nr_of_workers": 1}
    resp = server_app.test_client().open(f"/api/flamenco/managers/{mine['_id']}/{suffix}", method=method,
                                         json=body if method == "POST" else None,
                                         headers={"Authorization": f"Bearer {their_token}"})
    assert resp.status_code in (401, 403)


def test_manager_cannot_update_another_managers_tasks(server_app: flask.Flask, mongo_db: Database,
                                                      two_managers) -> None:
    mine, their_token, job = two_managers
    theirs = mongo_db["flamenco_managers"].find_one({"name": "Theirs"})
    task = mongo_db["flamenco_tasks"].find_one({"job": job["_id"]})
    update = {"_id": "5f00000000000000000000aa", "task_id": str(task["_id"]), "task_status": "completed",
              "activity": "hijacked"}

    resp = server_app.test_client().post(f"/api/flamenco/managers/{theirs['_id']}/task-update-batch",
                                         json=[update], headers={"Authorization": f"Bearer {their_token}"})

    assert resp.status_code == 200
    after = mongo_db["flamenco_tasks"].find_one({"_id": task["_id"]})
    assert after["status"] == task["status"]
    assert after.get("activity") != "hijacked"
