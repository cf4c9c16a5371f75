"""Manager dispatch: N simulated workers against a real manager and server.

Starts a server process and a manager process (``flamenco-manager run``:
worker API plus sync daemon) on one data store, submits a sleep job of
``--tasks`` zero-length tasks, and runs ``--workers`` simulated workers
(asyncio + httpx in this process) that speak the Flamenco 2 worker protocol:
register, sign on, then loop ``POST /task`` -> update ``active`` -> update
``completed``; an idle worker polls again after ``IDLE_POLL_SECONDS``.
Prints tasks/s, p50/p99 latency of ``/task`` and of the updates, and how
long the server took to see every task completed (the sync daemon's pushes).

    .venv/bin/python -m bench.bench_dispatch [--workers 100,1000] [--tasks 2000] [--deadline 240]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import pymongo
from bson import ObjectId

from bench.support import (REPO_ROOT, Stopwatch, data_store, database_uri, drop_database, header, latency_line,
                           redis_service, tenancy)
from flamenco.farm.services import free_port
from flamenco.jobs import construction
from tests.support.server import job_doc, running_server
from flamenco.farm.supervisor import stop_process

# A simulated worker with nothing to do asks again after this long (real
# workers back off for seconds; shorter here so the queue drains fast).
IDLE_POLL_SECONDS = 0.5
# Seconds to wait for the manager process to answer, and per HTTP call.
START_TIMEOUT_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 120
# After the workers finish, how long the server may take to receive every update.
SERVER_CATCH_UP_SECONDS = 300
# Manager settings for the run: download soon after a kick, push often.
MANAGER_SETTINGS = {"download_task_sleep": "5s", "download_task_recheck_throttle": "1s",
                    "task_update_push_max_interval": "1s", "http_threads": "16"}


class Stats:
    """Latencies and counts collected by all simulated workers."""

    def __init__(self) -> None:
        self.task_ok: list[float] = []
        self.task_idle: list[float] = []
        self.updates: list[float] = []
        self.completed = 0
        self.errors: dict[str, int] = {}

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def simulated_worker(client: httpx.AsyncClient, stats: Stats, total: int, stop_at: float) -> None:
    secret = secrets.token_hex(32)
    resp = await client.post("/register-worker", json={"secret": secret, "platform": "linux",
                                                       "supported_task_types": ["sleep"], "nickname": "sim"})
    if resp.status_code != 200:
        stats.error(f"register {resp.status_code}")
        return
    auth = (resp.json()["_id"], secret)
    await client.post("/sign-on", json={}, auth=auth)
    while stats.completed < total and time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            resp = await client.post("/task", auth=auth)
        except httpx.HTTPError as ex:
            stats.error(f"/task {type(ex).__name__}")
            continue
        elapsed = time.perf_counter() - started
        if resp.status_code == 204:
            stats.task_idle.append(elapsed)
            await asyncio.sleep(IDLE_POLL_SECONDS)
            continue
        if resp.status_code != 200:
            stats.error(f"/task {resp.status_code}")
            await asyncio.sleep(IDLE_POLL_SECONDS)
            continue
        stats.task_ok.append(elapsed)
        task_id = resp.json()["_id"]
        for body in ({"task_status": "active", "activity": "starting"},
                     {"task_status": "completed", "activity": "done", "task_progress_percentage": 100}):
            started = time.perf_counter()
            try:
                resp = await client.post(f"/tasks/{task_id}/update", json=body, auth=auth)
            except httpx.HTTPError as ex:
                stats.error(f"update {type(ex).__name__}")
                break
            stats.updates.append(time.perf_counter() - started)
            if resp.status_code != 204:
                stats.error(f"update {resp.status_code}")
        else:
            stats.completed += 1


async def run_workers(manager_url: str, n_workers: int, total: int, deadline: float) -> tuple[Stats, float]:
    stats = Stats()
    limits = httpx.Limits(max_connections=n_workers, max_keepalive_connections=n_workers)
    async with httpx.AsyncClient(base_url=manager_url, limits=limits, timeout=HTTP_TIMEOUT_SECONDS) as client:
        stop_at = time.monotonic() + deadline
        with Stopwatch() as sw:
            await asyncio.gather(*(simulated_worker(client, stats, total, stop_at) for _ in range(n_workers)))
    return stats, sw.seconds


@contextlib.contextmanager
def manager_process(settings: dict, log_path: Path) -> Iterator[str]:
    """``flamenco-manager run`` configured by environment; yields its URL."""
    port = free_port()
    env = dict(os.environ) | {f"FLAMENCO_MANAGER_{k.upper()}": str(v) for k, v in settings.items()}
    env["FLAMENCO_MANAGER_LISTEN"] = f"127.0.0.1:{port}"
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "flamenco_manager.cli", "run"], cwd=log_path.parent,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"manager did not start:\n{log_path.read_text()[-3000:]}")
            try:
                httpx.get(url + "/status-change", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        stop_process(proc, grace=30)


def submit_sleep_job(db, project: dict, manager: dict, user: dict, tasks: int) -> ObjectId:
    doc = job_doc(project, manager, user, job_type="sleep", name=f"dispatch {tasks}",
                  settings={"frames": f"1-{tasks}", "chunk_size": 1, "time_in_seconds": 0})
    for field in ("project", "manager", "user"):
        doc[field] = ObjectId(doc[field])
    return construction.submit_job(db, doc)["_id"]


def wait_for_server(db, job_id: ObjectId, total: int) -> tuple[int, float]:
    """(tasks the server has as completed, seconds waited until it had ``total``)."""
    with Stopwatch() as sw:
        deadline = time.monotonic() + SERVER_CATCH_UP_SECONDS
        done = 0
        while time.monotonic() < deadline:
            done = db["flamenco_tasks"].count_documents({"job": job_id, "status": "completed"})
            if done >= total:
                break
            time.sleep(1)
    return done, sw.seconds


def run_one(server_uri: str, redis_url: str, n_workers: int, total: int, deadline: float) -> None:
    manager_db = database_uri(server_uri, "bench_dispatch_mgr")
    try:
        with tenancy(server_uri, "bench_dispatch") as farm:
            job_id = submit_sleep_job(farm.db, farm.project, farm.manager, farm.user, total)
            with running_server(farm.uri, redis_url) as base_url, tempfile.TemporaryDirectory() as tmp:
                settings = MANAGER_SETTINGS | {"database_url": manager_db, "flamenco": base_url + "/",
                                               "manager_id": str(farm.manager["_id"]),
                                               "manager_secret": farm.manager_token,
                                               "task_logs_path": str(Path(tmp) / "logs")}
                with manager_process(settings, Path(tmp) / "manager.log") as manager_url:
                    wait_for_download(manager_db, total)
                    stats, seconds = asyncio.run(run_workers(manager_url, n_workers, total, deadline))
                    done, waited = wait_for_server(farm.db, job_id, stats.completed)
    finally:
        drop_database(manager_db)
    print(f"{n_workers} workers, {total} zero-length tasks: {stats.completed} completed in {seconds:.1f} s "
          f"= {stats.completed / seconds:.1f} tasks/s (incl. registration and the first download)")
    print("  " + latency_line("/task with a task", stats.task_ok))
    print("  " + latency_line("/task, nothing to do (204)", stats.task_idle))
    print("  " + latency_line("/tasks/<id>/update", stats.updates))
    print(f"  server saw {done}/{stats.completed} of those completed {waited:.1f} s after the workers stopped; "
          f"errors: {stats.errors or 'none'}", flush=True)

def wait_for_download(manager_db: str, total: int) -> None:
    """Block until the manager's cache holds the job's tasks (or START_TIMEOUT_SECONDS pass)."""
    with pymongo.MongoClient(manager_db, tz_aware=True) as mgr:
        cache = mgr.get_default_database()["tasks"]
        ready_by = time.monotonic() + START_TIMEOUT_SECONDS
        while cache.estimated_document_count() < total and time.monotonic() < ready_by:
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="100,1000", help="comma-separated worker counts")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--deadline", type=float, default=240, help="seconds the workers may run per size")
    args = parser.parse_args()
    with data_store() as (server_uri, store), redis_service() as redis_url:
        header("manager dispatch (simulated workers, real manager + server)", store)
        for n in (int(w) for w in args.workers.split(",")):
            run_one(server_uri, redis_url, n, args.tasks, args.deadline)


if __name__ == "__main__":
    main()
