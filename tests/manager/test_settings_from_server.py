"""Settings an admin changes on the server reach a real Manager (issue 14).

Path variables (applied to the next task handed out, kept over a restart),
the worker registration secret (old one refused, new one accepted, kept over
a restart) and sleep schedules (a set-sleep-schedule worker action), each
through a real server process and a Manager on its own database: a
``flamenco-manager run`` process, or its sync daemon in this process where a
test steers the clock.
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Iterator

import httpx
import jwt
import pytest

from flamenco import status
from flamenco.farm.services import free_port
from flamenco_protocol.statuses import JobStatus
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from flamenco_manager.sync import SyncDaemon
from tests.manager.conftest import serving
from tests.manager.support import SettableClock, TestWorker, manager_process, wait_until_serving
from tests.manager.test_worker_reports import TASK_TYPES, Studio, wait_for
from tests.manager.test_worker_reports import server_url, studio  # noqa: F401 (fixtures)
from tests.support.server import make_job

NEW_RENDER = "/mnt/farm-render"


def settings_url(server_url: str, studio: Studio) -> str:
    return f"{server_url}/api/flamenco/managers/{studio.manager_doc['_id']}/settings"


def manager_view(server_url: str, studio: Studio) -> dict:
    resp = httpx.get(settings_url(server_url, studio), headers=studio.auth(), timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def job_with_paths(studio: Studio) -> list:
    """A queued job of two tasks whose commands name ``{render}``; their ids.

    Built paused and queued once its commands are rewritten: the running
    Manager downloads every half second and must never see the sleep commands.
    """
    job = make_job(studio.server_db, studio.project, studio.manager_doc, studio.user, start_paused=True,
                   settings={"frames": "1-8", "chunk_size": 4, "time_in_seconds": 1})
    studio.server_db["flamenco_tasks"].update_many(
        {"job": job["_id"]}, {"$set": {"commands": [{"name": "echo", "settings": {"message": "{render}/shot-010"}}]}})
    status.set_job_status(studio.server_db, job["_id"], JobStatus.QUEUED, actor=status.Actor.USER)
    return [t["_id"] for t in studio.server_db["flamenco_tasks"].find({"job": job["_id"]}).sort("_id", 1)]


def claimed_message(worker: TestWorker) -> tuple[str, str]:
    """The next task's id and its expanded echo message, once the Manager has downloaded one."""
    resp = wait_for(lambda: (r := worker.get_task()).status_code == 200 and r, "a task for the worker")
    task = resp.json()
    return task["_id"], task["commands"][0]["settings"]["message"]


def test_variable_set_on_the_server_reaches_the_next_task_and_survives_a_restart(studio, server_url,
                                                                                 manager_settings, tmp_path):
    port = free_port()
    settings = {**manager_settings, **studio.manager_settings(server_url), "listen": f"127.0.0.1:{port}",
                "own_url": f"http://127.0.0.1:{port}/", "sync_tick_interval": 0.2,
                "task_update_push_max_interval": 0.2, "cancel_task_fetch_max_interval": 0.5,
                "worker_report_min_interval": 0.2, "download_task_sleep": 0.5}
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "manager.log"
    with manager_process("run", settings, log_path) as proc:
        wait_until_serving(url, proc, log_path)
        worker = TestWorker(url, nickname="render-01", platform="linux", task_types=TASK_TYPES).ready()
        wait_for(lambda: "render" in manager_view(server_url, studio)["variables"], "the Manager's variables")

        resp = httpx.put(f"{settings_url(server_url, studio)}/variables/render", headers=studio.auth(), timeout=30,
                         json={"direction": "twoway", "values": {"linux": NEW_RENDER, "windows": "R:/render"}})
        assert resp.status_code == 200, resp.text
        view = wait_for(lambda: (v := manager_view(server_url, studio))["applied_version"] == 1 and v,
                        "the Manager to report running the change")
        assert view["variables"]["render"]["values"][0] == {"platform": "linux", "value": NEW_RENDER}
        assert "blender" in view["program_variables"], "the Manager keeps its own program variables"

        first, second = job_with_paths(studio)
        task_id, message = claimed_message(worker)
        assert (task_id, message) == (str(first), f"{NEW_RENDER}/shot-010")
        assert worker.update(task_id, task_status="completed").status_code == 204
    assert proc.returncode == 0

    # The server has nothing left to send; the Manager's buffer keeps the variable over the
    # restart, winning over its configured default (/shared/flamenco/render).
    with manager_process("run", settings, log_path) as proc:
        wait_until_serving(url, proc, log_path)
        task_id, message = claimed_message(worker)
        assert (task_id, message) == (str(second), f"{NEW_RENDER}/shot-010")
    assert proc.returncode == 0
    assert "Traceback" not in log_path.read_text()


def registration(secret: str) -> dict:
    return {"Authorization": "Bearer " + jwt.encode({"sub": "new-worker"}, secret, algorithm="HS256")}


@pytest.fixture
def secured_settings(studio, server_url, manager_settings) -> dict:
    """A Manager linked to the server that accepts only registrations signed with its secret."""
    return {**manager_settings, **studio.manager_settings(server_url), "worker_report_min_interval": 0,
            "worker_registration_open": False, "worker_registration_secret": "old-" + secrets.token_hex(20)}


def test_rotated_registration_secret_replaces_the_old_one_and_survives_a_restart(studio, server_url,
                                                                                 secured_settings, clock):
    old = secured_settings["worker_registration_secret"]
    ctx = ManagerContext.create(build_config(secured_settings), clock=clock)
    try:
        with serving(ctx) as manager_url:
            registered = TestWorker(manager_url, task_types=TASK_TYPES)
            assert registered.register(registration(old)).status_code == 200
            assert registered.sign_on().status_code == 204

            resp = httpx.post(f"{settings_url(server_url, studio)}/registration-secret", headers=studio.auth(),
                              timeout=30)
            assert resp.status_code == 201, resp.text
            new = resp.json()["worker_registration_secret"]
            daemon = SyncDaemon(ctx)
            daemon.push_all()  # the answer carries the new secret
            assert TestWorker(manager_url).register(registration(old)).status_code == 403
            assert TestWorker(manager_url).register(registration(new)).status_code == 200
            assert registered.get_task().status_code == 204, "registered workers keep working"

            daemon.send_notifications()  # reports running it: the server forgets the secret
            view = manager_view(server_url, studio)
            assert (view["applied_version"], view["secret_pending"]) == (1, False)
            assert "manager_settings" not in daemon.upstream.push_updates([])
    finally:
        ctx.close()

    ctx = ManagerContext.create(build_config(secured_settings), clock=clock)
    try:
        with serving(ctx) as manager_url:
            assert TestWorker(manager_url).register(registration(new)).status_code == 200
            assert TestWorker(manager_url).register(registration(old)).status_code == 403
            registered.base_url = manager_url  # the restarted Manager serves on another port
            assert registered.get_task().status_code == 204
    finally:
        ctx.close()


@pytest.fixture
def linked(studio, server_url, manager_settings, clock) -> Iterator[ManagerContext]:
    config = build_config({**manager_settings, **studio.manager_settings(server_url), "worker_report_min_interval": 0})
    ctx = ManagerContext.create(config, clock=clock)
    yield ctx
    ctx.close()


def hh_mm(moment: dt.datetime) -> str:
    return moment.strftime("%H:%M")


def test_sleep_schedule_set_on_the_server_puts_the_worker_to_sleep_in_its_window(studio, server_url, linked,
                                                                                 clock: SettableClock):
    daemon = SyncDaemon(linked)
    with serving(linked) as manager_url:
        worker = TestWorker(manager_url, nickname="night-owl", task_types=TASK_TYPES).ready()
        daemon.send_notifications()
        local_now = clock().astimezone()
        window = {"schedule_active": True, "days_of_week": "",
                  "time_start": hh_mm(local_now - dt.timedelta(hours=1)),
                  "time_end": hh_mm(local_now + dt.timedelta(hours=1))}
        studio.queue_action(server_url, worker, action="set-sleep-schedule", schedule=window)
        assert worker.status_change().status_code == 204, "nothing before the Manager syncs"

        daemon.push_all()
        assert worker.get_task().json() == {"status_requested": "asleep"}
        assert worker.ack("asleep").status_code == 204
        daemon.send_notifications()
        listed = studio.worker(server_url, "night-owl")
        assert listed["sleep_schedule"] == window and listed["status"] == "asleep"
        assert listed["pending_actions"] == []

        clock.advance(2 * 3600)  # past the window's end: the schedule wakes it
        daemon.housekeep()
        assert worker.status_change().json() == {"status_requested": "awake"}
