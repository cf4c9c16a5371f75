"""The manager against a real server process and FerretDB (Must-show of issue 3).

The server runs as its own HTTP process (tests/support/server.py) on one
database; the manager uses another database on the same FerretDB. Workers
are HTTP clients speaking the Flamenco 2 worker protocol.
"""
from __future__ import annotations

import gzip
import threading
from typing import Iterator

import httpx
import pytest
from bson import ObjectId


from flamenco_manager import sync_requests, tasks, update_queue  # noqa: E402
from flamenco_manager.config import build_config  # noqa: E402
from flamenco_manager.context import ManagerContext  # noqa: E402
from flamenco_manager.sync import SyncDaemon  # noqa: E402
from tests.manager.conftest import serving  # noqa: E402
from flamenco.farm.services import free_port  # noqa: E402
from tests.manager.support import SettableClock, TestWorker, manager_process, wait_until_serving  # noqa: E402
from tests.support.server import make_job, make_manager, make_project, make_token, make_user, running_server  # noqa: E402
from tests.support.waiting import wait_for

# Updates queued while the server is down in the outage test.
OUTAGE_UPDATES = 1000
# Tasks those updates are spread over (each gets its updates in order).
OUTAGE_TASKS = 4


class Farm:
    """A server database with a user, project and manager, and a manager context linked to it."""

    def __init__(self, server_db, manager_settings: dict, clock: SettableClock) -> None:
        self.server_db = server_db
        self.user = make_user(server_db, "artist")
        self.token = make_token(server_db, self.user)
        self.project = make_project(server_db, "Film", members=[(self.user, "member")])
        self.manager_doc, self.manager_token = make_manager(server_db, projects=[self.project])
        self.manager_settings = manager_settings
        self.clock = clock
        self.ctx: ManagerContext | None = None

    def link(self, server_url: str) -> ManagerContext:
        config = build_config({**self.manager_settings, "flamenco": server_url,
                               "manager_id": str(self.manager_doc["_id"]), "manager_secret": self.manager_token})
        if self.ctx is None:
            self.ctx = ManagerContext.create(config, clock=self.clock)
        else:
            self.ctx.config = config
        return self.ctx

    def job(self, **kwargs) -> dict:
        return make_job(self.server_db, self.project, self.manager_doc, self.user, **kwargs)

    def downloaded(self, server_url: str) -> SyncDaemon:
        """Link the manager to the server and download the depsgraph once; the daemon syncs further."""
        daemon = SyncDaemon(self.link(server_url))
        daemon.download()
        return daemon

    def cancel_job(self, server_url: str, job: dict) -> None:
        """Cancel the job through the server's REST API, as a user would."""
        resp = httpx.patch(f"{server_url}/api/flamenco/jobs/{job['_id']}",
                           json={"op": "set-job-status", "status": "cancel-requested"},
                           headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        assert resp.status_code in (200, 204), resp.text

    def server_tasks(self, job: dict) -> list[dict]:
        return list(self.server_db["flamenco_tasks"].find({"job": job["_id"]}).sort("_id", 1))


@pytest.fixture
def farm(mongo_db, manager_settings, clock) -> Iterator[Farm]:
    farm = Farm(mongo_db, manager_settings, clock)
    yield farm
    if farm.ctx is not None:
        farm.ctx.close()


def test_task_goes_queued_claimed_active_completed_on_the_server(farm, mongo_uri, redis_url):
    job = farm.job(settings={"frames": "1-2", "chunk_size": 2, "time_in_seconds": 0})
    with running_server(mongo_uri, redis_url) as server_url:
        ctx = farm.link(server_url)
        daemon = SyncDaemon(ctx)
        assert {t["status"] for t in farm.server_tasks(job)} == {"queued"}
        assert daemon.download() == len(farm.server_tasks(job))
        assert {t["status"] for t in farm.server_tasks(job)} == {"claimed-by-manager"}
        assert sync_requests.depsgraph_last_modified(ctx), "X-Flamenco-Last-Updated is kept"
        assert daemon.download() == 0, "the next download is incremental: nothing changed"
        with serving(ctx) as manager_url:
            worker = TestWorker(manager_url, task_types=["sleep", "file-management", "exec"]).ready()
            while (resp := worker.get_task()).status_code == 200:
                task = resp.json()
                daemon.push_all()
                on_server = farm.server_db["flamenco_tasks"].find_one({"_id": ObjectId(task["_id"])})
                assert on_server["status"] == "active"
                worker.update(task["_id"], activity="working", log="some output")
                worker.update(task["_id"], task_status="completed", log="done")
                daemon.push_all()
        assert update_queue.queue_size(ctx) == 0
        assert {t["status"] for t in farm.server_tasks(job)} == {"completed"}
        assert farm.server_db["flamenco_jobs"].find_one({"_id": job["_id"]})["status"] == "completed"


def test_one_download_takes_every_page_of_a_paged_depsgraph(farm, mongo_uri, redis_url):
    """The server claims queued tasks a page at a time and says more wait; the manager asks again at once."""
    job = farm.job(settings={"frames": "1-5", "chunk_size": 1, "time_in_seconds": 0})
    with running_server(mongo_uri, redis_url, DEPSGRAPH_CLAIM_PAGE_TASKS=2) as server_url:
        ctx = farm.link(server_url)
        daemon = SyncDaemon(ctx)
        assert daemon.download() == 5
        assert {t["status"] for t in farm.server_tasks(job)} == {"claimed-by-manager"}
        assert {str(t["_id"]) for t in farm.server_tasks(job)} <= {str(tid) for tid in ctx.state.tasks}
        assert daemon.download() == 0, "nothing is delivered twice"


def test_cancel_on_the_server_stops_the_workers_task(farm, mongo_uri, redis_url):
    job = farm.job(settings={"frames": "1", "chunk_size": 1, "time_in_seconds": 60})
    with running_server(mongo_uri, redis_url) as server_url:
        daemon = farm.downloaded(server_url)
        ctx = daemon.ctx
        with serving(ctx) as manager_url:
            worker = TestWorker(manager_url, task_types=["sleep", "file-management", "exec"]).ready()
            task = worker.get_task().json()
            daemon.push_all()
            farm.cancel_job(server_url, job)
            daemon.push_all()  # the reply carries the cancel request
            answer = worker.may_i_run(task["_id"])
            assert answer["may_keep_running"] is False
            assert worker.return_task(task["_id"]).status_code == 204
            daemon.push_all()
        on_server = farm.server_db["flamenco_tasks"].find_one({"_id": ObjectId(task["_id"])})
        assert on_server["status"] == "canceled"


def test_task_cancelled_on_the_server_goes_to_no_worker_after_the_cancel_poll(farm, mongo_uri, redis_url):
    """No blocking re-check per claim: the cancel poll (an empty push) brings the cancellation."""
    job = farm.job(settings={"frames": "1-2", "chunk_size": 1, "time_in_seconds": 60})
    with running_server(mongo_uri, redis_url) as server_url:
        daemon = farm.downloaded(server_url)
        ctx = daemon.ctx
        cached = [tasks.find_task(ctx, t["_id"]) for t in farm.server_tasks(job)]
        farm.cancel_job(server_url, job)
        daemon.push_all()  # due at least every cancel_task_fetch_max_interval
        with serving(ctx) as manager_url:
            worker = TestWorker(manager_url, task_types=["sleep", "file-management", "exec"]).ready()
            answers = [worker.get_task().status_code for _ in cached]
        assert answers == [204] * len(cached), "no worker starts a cancelled task"
        assert {tasks.find_task(ctx, t["_id"])["status"] for t in cached} == {"canceled"}
        daemon.push_all()
        assert {t["status"] for t in farm.server_tasks(job)} == {"canceled"}
        assert farm.server_db["flamenco_jobs"].find_one({"_id": job["_id"]})["status"] == "canceled"


def test_task_handed_out_inside_the_cancellation_window_is_stopped_at_its_next_may_i_run(
        farm, mongo_uri, redis_url):
    """The window (README, "Cancellation window"): between the Server's cancel and the next poll a task
    may still start; the poll turns it cancel-requested and its worker is told to stop."""
    job = farm.job(settings={"frames": "1-1", "chunk_size": 1, "time_in_seconds": 60})
    with running_server(mongo_uri, redis_url) as server_url:
        daemon = farm.downloaded(server_url)
        ctx = daemon.ctx
        farm.cancel_job(server_url, job)
        with serving(ctx) as manager_url:
            worker = TestWorker(manager_url, task_types=["sleep", "file-management", "exec"]).ready()
            task = worker.get_task().json()  # inside the window: the manager has not heard yet
            assert worker.may_i_run(task["_id"])["may_keep_running"] is True
            daemon.push_all()  # the poll
            answer = worker.may_i_run(task["_id"])
            assert answer["may_keep_running"] is False and "cancel-requested" in answer["reason"]
            assert worker.return_task(task["_id"]).status_code == 204
        assert tasks.find_task(ctx, ObjectId(task["_id"]))["status"] == "canceled"
        daemon.push_all()
        assert {t["status"] for t in farm.server_tasks(job)} == {"canceled"}


def test_updates_queued_during_an_outage_all_arrive_in_order(farm, mongo_uri, redis_url):
    job = farm.job(settings={"frames": f"1-{OUTAGE_TASKS}", "chunk_size": 1, "time_in_seconds": 0})
    with running_server(mongo_uri, redis_url) as server_url:
        ctx = farm.link(server_url)
        SyncDaemon(ctx).download()
    # The server is down now: workers keep working, the manager keeps queueing.
    per_task = OUTAGE_UPDATES // OUTAGE_TASKS
    with serving(ctx) as manager_url:
        workers = [TestWorker(manager_url, nickname=f"w{i}", task_types=["sleep", "file-management", "exec"]).ready()
                   for i in range(OUTAGE_TASKS)]
        assigned = [w.get_task().json()["_id"] for w in workers]

        def report(worker: TestWorker, task_id: str) -> None:
            for step in range(per_task - 2):
                assert worker.update(task_id, activity=f"step {step}").status_code == 204
            assert worker.update(task_id, task_status="completed", activity="finished").status_code == 204

        threads = [threading.Thread(target=report, args=(w, t)) for w, t in zip(workers, assigned)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert update_queue.queue_size(ctx) == OUTAGE_UPDATES
    daemon = SyncDaemon(ctx)
    assert daemon.push_all() == 0, "nothing can be pushed while the server is down"
    with running_server(mongo_uri, redis_url) as server_url:
        farm.link(server_url)
        daemon = SyncDaemon(ctx)
        assert daemon.push_all() == OUTAGE_UPDATES
    assert update_queue.queue_size(ctx) == 0
    for task in farm.server_tasks(job):
        assert task["status"] == "completed"
        assert task["activity"] == "finished", "the last update was applied last"


def test_manager_process_runs_a_job_and_uploads_a_log_on_request(farm, mongo_uri, redis_url, tmp_path):
    """``flamenco-manager run`` on its own: notifies, downloads on a kick, pushes, uploads a log."""
    job = farm.job(settings={"frames": "1-2", "chunk_size": 1, "time_in_seconds": 0})
    storage = tmp_path / "storage"
    port = free_port()
    with running_server(mongo_uri, redis_url, FLAMENCO_STORAGE_DIR=str(storage)) as server_url:
        settings = {**farm.manager_settings, "flamenco": server_url, "listen": f"127.0.0.1:{port}",
                    "own_url": f"http://127.0.0.1:{port}/", "manager_id": str(farm.manager_doc["_id"]),
                    "manager_secret": farm.manager_token, "sync_tick_interval": 0.2,
                    "download_task_recheck_throttle": 0, "task_update_push_max_interval": 0.2,
                    "cancel_task_fetch_max_interval": 0.5}
        log_path = tmp_path / "manager.log"
        with manager_process("run", settings, log_path) as proc:
            url = f"http://127.0.0.1:{port}"
            wait_until_serving(url, proc, log_path)
            managers = farm.server_db["flamenco_managers"]
            wait_for(lambda: (managers.find_one({"_id": farm.manager_doc["_id"]}) or {}).get("url") == settings["own_url"],
                     "the startup notification")
            worker = TestWorker(url, task_types=["sleep", "file-management", "exec"]).ready()
            wait_for(lambda: "sleep" in (managers.find_one({"_id": farm.manager_doc["_id"]}) or {}).get(
                "worker_task_types", []), "the update notification with the worker's task types")
            done = []
            while len(done) < len(farm.server_tasks(job)):
                resp = wait_for(lambda: (r := worker.get_task()).status_code == 200 and r, "a task (kicked download)")
                task = resp.json()
                assert worker.update(task["_id"], task_status="completed", log=f"rendered {task['name']}").status_code == 204
                done.append(task)
            wait_for(lambda: farm.server_db["flamenco_jobs"].find_one({"_id": job["_id"]})["status"] == "completed",
                     "the job to complete on the server")
            task_id = done[0]["_id"]
            resp = httpx.patch(f"{server_url}/api/flamenco/tasks/{task_id}", json={"op": "request-task-log-file"},
                               headers={"Authorization": f"Bearer {farm.token}"}, timeout=30)
            assert resp.status_code in (200, 204), resp.text
            on_server = wait_for(lambda: farm.server_db["flamenco_tasks"].find_one(
                {"_id": ObjectId(task_id), "log_file": {"$exists": True}}), "the log upload")
            text = gzip.decompress((storage / on_server["log_file"]["file_path"]).read_bytes()).decode()
            assert f"rendered {done[0]['name']}" in text and "Manager assigned task" in text
        assert proc.returncode == 0
        assert "Traceback" not in log_path.read_text()
