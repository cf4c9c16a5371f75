"""Job requirements and admin tags from end to end (issue 15): a real server process, a Manager on its
own database and real HTTP, and two Flamenco 2-style workers.

A job submitted with ``requirements`` through the server's REST API reaches
the Manager inside its tasks (the depsgraph); the Manager gives those tasks
only to a worker with the tag. An admin's ``set-tags`` on the server rides to
the Manager on a task-update-batch answer and changes who gets them.
"""
from __future__ import annotations

from typing import Iterator

import httpx
import pytest
from bson import ObjectId


from flamenco_manager.config import build_config  # noqa: E402
from flamenco_manager.context import ManagerContext  # noqa: E402
from flamenco_manager.sync import SyncDaemon  # noqa: E402
from tests.manager.conftest import serving  # noqa: E402
from tests.manager.support import TestWorker  # noqa: E402
from tests.support.server import job_doc, make_manager, make_project, make_token, make_user, post_job  # noqa: E402
from tests.support.server import running_server  # noqa: E402

TASK_TYPES = ["sleep"]
# The sleep job of tests.support.server: 12 frames in chunks of 4, so 3 tasks per job.
TASKS_PER_JOB = 3


class Studio:
    """A project, its Manager owned by alice (who may therefore set its workers' tags), and a linked Manager."""

    def __init__(self, db, server_url: str, manager_settings: dict, clock) -> None:
        self.db, self.server_url = db, server_url
        self.alice = make_user(db, "alice")
        self.token = make_token(db, self.alice)
        self.project = make_project(db, "Film", members=[(self.alice, "member")])
        self.manager, manager_token = make_manager(db, projects=[self.project], owner=self.alice, name="Studio")
        self.ctx = ManagerContext.create(build_config({
            **manager_settings, "flamenco": server_url, "manager_id": str(self.manager["_id"]),
            "manager_secret": manager_token}), clock=clock)
        self.daemon = SyncDaemon(self.ctx)

    def submit(self, **fields) -> str:
        doc = job_doc(self.project, self.manager, self.alice, settings={"frames": "1-12", "chunk_size": 4,
                                                                         "time_in_seconds": 0}, **fields)
        resp = post_job(self.server_url, self.token, doc)
        assert resp.status_code == 201, resp.text
        return resp.json()["_id"]

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, self.server_url + path, headers={"Authorization": f"Bearer {self.token}"},
                             timeout=30, **kwargs)

    def job_of(self, task_id: str) -> str:
        return str(self.db["flamenco_tasks"].find_one({"_id": ObjectId(task_id)})["job"])


@pytest.fixture
def studio(mongo_db, mongo_uri, redis_url, manager_settings, clock) -> Iterator[Studio]:
    with running_server(mongo_uri, redis_url) as server_url:
        studio = Studio(mongo_db, server_url, manager_settings, clock)
        try:
            yield studio
        finally:
            studio.ctx.close()


def run_all(worker: TestWorker, daemon: SyncDaemon) -> list[str]:
    """Take and complete tasks until the Manager answers 204; the task ids, in order."""
    done = []
    while (resp := worker.get_task()).status_code == 200:
        done.append(resp.json()["_id"])
        assert worker.update(done[-1], task_status="completed").status_code == 204
    assert resp.status_code == 204, resp.text
    daemon.push_all()
    return done


def test_tagged_job_waits_for_a_tagged_worker_and_an_admins_tags_change_who_runs_it(studio: Studio, clock):
    gpu_job = studio.submit(name="gpu shot", requirements={"tags": ["GPU"]}, priority=90)
    plain_job = studio.submit(name="plain shot")
    assert studio.db["flamenco_jobs"].find_one({"_id": ObjectId(gpu_job)})["requirements"] == {"tags": ["gpu"]}
    studio.daemon.download()

    with serving(studio.ctx) as manager_url:
        old = TestWorker(manager_url, nickname="old-box", task_types=TASK_TYPES).ready()
        other = TestWorker(manager_url, nickname="other-box", task_types=TASK_TYPES).ready()
        ran = run_all(old, studio.daemon)
        assert {studio.job_of(t) for t in ran} == {plain_job} and len(ran) == TASKS_PER_JOB, \
            "the higher-priority gpu job is skipped: an unmodified worker runs the job without requirements"
        assert other.get_task().status_code == 204, "no tag, no task, while the gpu job's tasks wait"

        studio.daemon.send_notifications()  # the server's registry learns of the workers
        resp = studio.api("POST", f"/api/flamenco/workers/{studio.manager['_id']}/{other.worker_id}/actions",
                          json={"action": "set-tags", "tags": ["gpu", "room-b"]})
        assert resp.status_code == 201, resp.text
        studio.daemon.push_all()  # the answer carries the action; the Manager applies it
        assert other.sign_on().status_code == 204, "a restart (sign-on without tags) keeps the admin's tags"
        ran = run_all(other, studio.daemon)
        assert {studio.job_of(t) for t in ran} == {gpu_job} and len(ran) == TASKS_PER_JOB

        clock.advance(60)
        studio.daemon.send_notifications()
    job = studio.db["flamenco_jobs"].find_one({"_id": ObjectId(gpu_job)})
    assert job["status"] == "completed"
    listed = {w["nickname"]: w for w in studio.api("GET", "/api/flamenco/workers").json()["_items"]}
    assert listed["other-box"]["tags"] == ["gpu", "room-b"] and listed["other-box"]["tags_set_by_admin"] is True
    assert listed["other-box"]["pending_actions"] == [], "the Manager acknowledged the action"
    assert listed["old-box"]["tags"] == [] and listed["old-box"]["resources"] is None
