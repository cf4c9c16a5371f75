"""The Manager reports its workers to a real server and applies the worker actions queued there (issue 14).

A real server process on one database, the Manager (a ``flamenco-manager
run`` process, or its sync daemon in this process where a test steers the
clock or the order of sync steps) on another, and workers speaking the
Flamenco 2 protocol over HTTP.
"""
from __future__ import annotations

from typing import Iterator

import httpx
import pytest
from bson import ObjectId

from flamenco.farm.services import free_port
from flamenco_manager import blocklist
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from flamenco_manager.sync import SyncDaemon
from tests.manager.conftest import serving
from tests.manager.support import SettableClock, TestWorker, manager_process, wait_until_serving
from tests.support.server import make_manager, make_project, make_token, make_user, running_server
from tests.support.waiting import wait_for

TASK_TYPES = ["sleep", "file-management", "exec"]


class Studio:
    """A server database with an artist who owns a Manager, and that Manager's credentials."""

    def __init__(self, server_db) -> None:
        self.server_db = server_db
        self.user = make_user(server_db, "artist")
        self.token = make_token(server_db, self.user)
        self.project = make_project(server_db, "Film", members=[(self.user, "admin")])
        self.manager_doc, self.manager_token = make_manager(server_db, projects=[self.project], owner=self.user)

    def manager_settings(self, server_url: str) -> dict:
        return {"flamenco": server_url, "manager_id": str(self.manager_doc["_id"]),
                "manager_secret": self.manager_token}

    def workers(self, server_url: str) -> list[dict]:
        resp = httpx.get(f"{server_url}/api/flamenco/workers", headers=self.auth(), timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()["_items"]

    def worker(self, server_url: str, nickname: str) -> dict | None:
        return next((w for w in self.workers(server_url) if w["nickname"] == nickname), None)

    def queue_action(self, server_url: str, worker: TestWorker, **body) -> dict:
        resp = httpx.post(f"{server_url}/api/flamenco/workers/{self.manager_doc['_id']}/{worker.worker_id}/actions",
                          json=body, headers=self.auth(), timeout=30)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def studio(mongo_db) -> Studio:
    return Studio(mongo_db)


@pytest.fixture
def server_url(mongo_uri, redis_url) -> Iterator[str]:
    with running_server(mongo_uri, redis_url) as url:
        yield url


@pytest.fixture
def linked_ctx(studio, server_url, manager_settings, clock) -> Iterator[ManagerContext]:
    """An in-process Manager linked to the server; its daemon reports at once when asked (no min interval)."""
    config = build_config({**manager_settings, **studio.manager_settings(server_url),
                           "worker_report_min_interval": 0})
    ctx = ManagerContext.create(config, clock=clock)
    yield ctx
    ctx.close()


def test_manager_process_reports_workers_and_sends_one_to_sleep(studio, server_url, manager_settings, tmp_path):
    port = free_port()
    settings = {**manager_settings, **studio.manager_settings(server_url), "listen": f"127.0.0.1:{port}",
                "own_url": f"http://127.0.0.1:{port}/", "sync_tick_interval": 0.2,
                "task_update_push_max_interval": 0.2, "cancel_task_fetch_max_interval": 0.5,
                "worker_report_min_interval": 0.5}
    log_path = tmp_path / "manager.log"
    with manager_process("run", settings, log_path) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, proc, log_path)
        worker = TestWorker(url, nickname="render-01", platform="linux", task_types=TASK_TYPES).ready()
        assert worker.get_task().status_code == 204  # no work: the worker is awake and idle
        listed = wait_for(lambda: (w := studio.worker(server_url, "render-01")) and w["status"] == "awake" and w,
                          "the worker reported awake")
        assert listed["worker_id"] == worker.worker_id
        assert (listed["platform"], listed["supported_task_types"]) == ("linux", TASK_TYPES)
        assert listed["last_seen"] and listed["manager"]["_id"] == str(studio.manager_doc["_id"])

        # A Flamenco 2 Manager's notification (no `workers`) keeps the list.
        flamenco2 = {"_meta": {"version": 2}, "manager_url": settings["own_url"], "variables": {},
                     "nr_of_workers": 1, "worker_task_types": TASK_TYPES}
        resp = httpx.post(f"{server_url}/api/flamenco/managers/{studio.manager_doc['_id']}/update", json=flamenco2,
                          auth=(studio.manager_token, ""), timeout=30)
        assert resp.status_code == 204
        assert studio.worker(server_url, "render-01") is not None

        action = studio.queue_action(server_url, worker, action="sleep")
        assert action["status"] == "pending"
        # The Manager picks it up on its next sync; the worker hears it on its next call.
        answer = wait_for(lambda: (r := worker.get_task()).status_code == 423 and r.json(),
                          "the worker to be asked to sleep")
        assert answer == {"status_requested": "asleep"}
        wait_for(lambda: studio.worker(server_url, "render-01")["pending_actions"] == [],
                 "the Manager to acknowledge the action")
        assert worker.ack("asleep").status_code == 204
        wait_for(lambda: studio.worker(server_url, "render-01")["status"] == "asleep", "the worker reported asleep")
    assert proc.returncode == 0
    assert "Traceback" not in log_path.read_text()


def test_action_is_applied_once_even_when_it_is_delivered_again(studio, server_url, linked_ctx):
    daemon = SyncDaemon(linked_ctx)
    with serving(linked_ctx) as manager_url:
        worker = TestWorker(manager_url, nickname="render-02", task_types=TASK_TYPES).ready()
        daemon.send_notifications()  # the startup notification, with the worker
        assert studio.worker(server_url, "render-02")["status"] == "starting"
        studio.queue_action(server_url, worker, action="sleep")
        daemon.push_all()  # the answer carries the action: applied
        assert worker.status_change().json() == {"status_requested": "asleep"}
        assert worker.ack("asleep").status_code == 204
        # No notification went out yet, so the server still holds the action and sends it again.
        daemon.push_all()
        assert worker.status_change().status_code == 204, "a re-delivered action is not applied twice"
        daemon.send_notifications()  # acknowledges it, and reports the worker asleep
        listed = studio.worker(server_url, "render-02")
        assert (listed["status"], listed["pending_actions"]) == ("asleep", [])
        reply_later = daemon.upstream.push_updates([])
        assert "worker_actions" not in reply_later


def test_wake_lazy_shutdown_and_blocklist_removal_reach_the_manager(studio, server_url, linked_ctx):
    daemon = SyncDaemon(linked_ctx)
    job, other_job = ObjectId(), ObjectId()
    with serving(linked_ctx) as manager_url:
        worker = TestWorker(manager_url, nickname="render-03", task_types=TASK_TYPES).ready()
        wid = ObjectId(worker.worker_id)
        linked_ctx.engine.call(lambda: [blocklist.add(linked_ctx, wid, job, "sleep"),
                                        blocklist.add(linked_ctx, wid, job, "exec"),
                                        blocklist.add(linked_ctx, wid, other_job, "sleep")])
        daemon.send_notifications()
        reported = studio.worker(server_url, "render-03")["blocklist"]
        assert sorted((b["job"], b["task_type"]) for b in reported) == sorted(
            [(str(job), "sleep"), (str(job), "exec"), (str(other_job), "sleep")])

        studio.queue_action(server_url, worker, action="remove-from-blocklist", job=str(job))
        studio.queue_action(server_url, worker, action="shutdown", lazy=True)
        daemon.push_all()
        assert set(linked_ctx.state.blocklist) == {(wid, other_job, "sleep")}, "only that job's lines go"
        state = linked_ctx.state.workers[wid]
        assert (state["status_requested"], state["lazy_status_request"]) == ("shutdown", True)

        studio.queue_action(server_url, worker, action="wake")
        daemon.push_all()
        assert linked_ctx.state.workers[wid]["status_requested"] == "awake"
        daemon.send_notifications()
        listed = studio.worker(server_url, "render-03")
        assert [(b["job"], b["task_type"]) for b in listed["blocklist"]] == [(str(other_job), "sleep")]
        assert listed["pending_actions"] == []


def test_reports_are_throttled_and_refreshed(studio, server_url, manager_settings, clock: SettableClock):
    """At most one report per min interval, however often workers change; one per max interval regardless."""
    config = build_config({**manager_settings, **studio.manager_settings(server_url),
                           "worker_report_min_interval": 60, "worker_report_max_interval": 600})
    ctx = ManagerContext.create(config, clock=clock)
    try:
        daemon = SyncDaemon(ctx)
        with serving(ctx) as manager_url:
            worker = TestWorker(manager_url, nickname="before", task_types=TASK_TYPES).ready()
            daemon.send_notifications()
            assert studio.worker(server_url, "before") is not None
            assert worker.sign_on(nickname="after").status_code == 204
            daemon.send_notifications()
            assert studio.worker(server_url, "after") is None, "a change within the min interval waits"
            clock.advance(61)
            daemon.send_notifications()
            seen_at = studio.worker(server_url, "after")["last_seen"]
            clock.advance(61)
            daemon.send_notifications()
            assert studio.worker(server_url, "after")["last_seen"] == seen_at, "nothing changed: nothing sent"
            clock.advance(600)
            daemon.send_notifications()
            # The refresh carries the Manager's later clock, so the worker's silence grew.
            assert studio.worker(server_url, "after")["status"] == "offline"
    finally:
        ctx.close()
