"""Manager dispatch: N simulated Flamenco 2 workers against a real manager and server.

Starts a server process and a manager process (``flamenco-manager run``:
worker API, dashboard and sync daemon) on one data store, as ``flamenco
farm`` does, submits a sleep job of ``--tasks`` zero-length tasks, and runs
``--workers`` simulated workers (on uvloop, as the manager runs, in this process, each with its own
keep-alive connection; ``bench.lean_http`` says why not aiohttp's client) that
speak the Flamenco 2 worker protocol: register, sign on, then loop ``POST
/task`` -> update ``active`` -> update ``completed``; an idle worker polls
again after ``IDLE_POLL_SECONDS``.

Prints per size: completed tasks/s, p50/p99 of ``/task`` and of the
updates, errors, CPU seconds per completed task of every farm process
(psutil: data store, Redis, server, manager), and store commands per
completed task in the server and the manager (a pymongo CommandListener in
each, ``bench.command_counter``; a bulk write counts as one command). CPU and
commands are counted from the first worker's registration until the server
has seen every task completed; the farm's CPU before that (the manager
downloading the tasks and creating their log files) is printed apart.

    .venv/bin/python -m bench.bench_dispatch [--workers 100,1000] [--tasks 2000] [--deadline 240]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Iterator

import httpx
import psutil
import pymongo
from bson import ObjectId

from bench.lean_http import Connection, HTTPError, basic_auth
from bench.support import (REPO_ROOT, Stopwatch, data_store, database_uri, drop_database, header, latency_line,
                           redis_service, tenancy)
from flamenco.farm.services import free_port
from flamenco.farm.supervisor import stop_process
from flamenco import task_counts
from flamenco.jobs import construction
from flamenco_worker.registration import registration_token
from flamenco_manager.engine import new_event_loop
from tests.support.server import job_doc, running_server

# A simulated worker with nothing to do asks again after this long (real
# workers back off for seconds; shorter here so the queue drains fast).
IDLE_POLL_SECONDS = 0.5
# Seconds to wait for the manager process to answer, and per HTTP call.
START_TIMEOUT_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 120
# After the workers finish, how long the server may take to receive every update.
SERVER_CATCH_UP_SECONDS = 300
# Manager settings for the run: download soon after a kick, push every second.
MANAGER_SETTINGS = {"download_task_sleep": "5s", "download_task_recheck_throttle": "1s",
                    "task_update_push_max_interval": "1s"}
# Workers register as Flamenco 2 workers do, with a JWT signed with the manager's PSK.
REGISTRATION_SECRET = secrets.token_urlsafe(32)
# Runs a module with a store-command counter (bench/command_counter.py).
COUNTED = ("-m", "bench.command_counter")


class Stats:
    """Latencies and counts collected by all simulated workers."""

    def __init__(self) -> None:
        self.task_ok: list[float] = []
        self.task_idle: list[float] = []
        self.updates: list[float] = []
        self.completed = 0
        self.first_task_at: float | None = None  # time.monotonic() of the first task handed out
        self.dispatch_seconds = 0.0  # from the first task handed out to the last completion
        self.errors: dict[str, int] = {}

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def simulated_worker(conn: Connection, stats: Stats, total: int, stop_at: float) -> None:
    secret = secrets.token_hex(32)
    psk = {"Authorization": f"Bearer {registration_token(REGISTRATION_SECRET)}"}
    try:
        status, body = await conn.request("POST", "/register-worker", headers=psk, json_body={
            "secret": secret, "platform": "linux", "supported_task_types": ["sleep"], "nickname": "sim"})
        if status != 200:
            stats.error(f"register {status}")
            return
        auth = {"Authorization": basic_auth(json.loads(body)["_id"], secret)}
        await conn.request("POST", "/sign-on", json_body={}, headers=auth)
    except HTTPError as ex:
        stats.error(f"register or sign-on: {ex}")
        return
    while stats.completed < total and time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            status, body = await conn.request("POST", "/task", headers=auth)
        except HTTPError as ex:
            stats.error(f"/task {ex.__cause__.__class__.__name__}")
            continue
        elapsed = time.perf_counter() - started
        if status == 204:
            stats.task_idle.append(elapsed)
            await asyncio.sleep(IDLE_POLL_SECONDS)
            continue
        if status != 200:
            stats.error(f"/task {status}")
            await asyncio.sleep(IDLE_POLL_SECONDS)
            continue
        stats.task_ok.append(elapsed)
        if stats.first_task_at is None:
            stats.first_task_at = time.monotonic() - elapsed
        task_id = json.loads(body)["_id"]
        for update in ({"task_status": "active", "activity": "starting"},
                       {"task_status": "completed", "activity": "done", "task_progress_percentage": 100}):
            started = time.perf_counter()
            try:
                status, _ = await conn.request("POST", f"/tasks/{task_id}/update", json_body=update, headers=auth)
            except HTTPError as ex:
                stats.error(f"update {ex.__cause__.__class__.__name__}")
                break
            stats.updates.append(time.perf_counter() - started)
            if status != 204:
                stats.error(f"update {status}")
        else:
            stats.completed += 1


async def run_workers(manager_url: str, n_workers: int, total: int, deadline: float) -> tuple[Stats, float]:
    """Run the simulated workers, each with its own keep-alive connection, as real workers have."""
    stats = Stats()
    address = urllib.parse.urlsplit(manager_url)
    conns = [Connection(address.hostname or "127.0.0.1", address.port or 80, HTTP_TIMEOUT_SECONDS)
             for _ in range(n_workers)]
    stop_at = time.monotonic() + deadline
    try:
        with Stopwatch() as sw:
            await asyncio.gather(*(simulated_worker(conn, stats, total, stop_at) for conn in conns))
    finally:
        for conn in conns:
            conn.close()
    stats.dispatch_seconds = time.monotonic() - (stats.first_task_at or time.monotonic())
    return stats, sw.seconds


@contextlib.contextmanager
def manager_process(settings: dict, log_path: Path, commands_file: Path) -> Iterator[str]:
    """``flamenco-manager run`` configured by environment, its store commands counted; yields its URL."""
    port = free_port()
    env = dict(os.environ) | {f"FLAMENCO_MANAGER_{k.upper()}": str(v) for k, v in settings.items()}
    env["FLAMENCO_MANAGER_LISTEN"] = f"127.0.0.1:{port}"
    env["FLAMENCO_BENCH_COMMANDS_FILE"] = str(commands_file)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, *COUNTED, "-m", "flamenco_manager.cli", "run"], cwd=REPO_ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"manager did not start:\n{log_path.read_text()[-3000:]}")
            try:
                httpx.get(url + "/openapi.json", timeout=2)
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
    """(tasks the server has as completed, seconds waited until it had ``total``).

    Reads the job's task counts (one job document), as the dashboard does:
    counting the tasks themselves would decode every task document in
    FerretDB at each poll and charge the benchmark's own reads to the store.
    """
    with Stopwatch() as sw:
        deadline = time.monotonic() + SERVER_CATCH_UP_SECONDS
        done = 0
        while time.monotonic() < deadline:
            done = task_counts.read(db, job_id).get("completed", 0)
            if done >= total:
                break
            time.sleep(0.5)
    return done, sw.seconds


def wait_for_download(manager_db: str, total: int) -> None:
    """Block until the manager's buffer holds the job's tasks (or START_TIMEOUT_SECONDS pass)."""
    with pymongo.MongoClient(manager_db, tz_aware=True) as mgr:
        cache = mgr.get_default_database()["tasks"]
        ready_by = time.monotonic() + START_TIMEOUT_SECONDS
        while cache.estimated_document_count() < total and time.monotonic() < ready_by:
            time.sleep(0.5)


def process_role(proc: psutil.Process) -> str:
    """What a farm process is, from its command line."""
    cmdline = " ".join(proc.cmdline())
    for marker, role in (("ferretdb", "data store"), ("redis", "redis"), ("flamenco_manager.cli", "manager"),
                         ("flamenco.cli", "server")):
        if marker in cmdline:
            return role
    return proc.name()


@dataclasses.dataclass
class Usage:
    """CPU seconds per farm process role and store commands per counted process, at one moment."""

    cpu: dict[str, float]
    commands: dict[str, int]
    by_name: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    micros: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    @classmethod
    def now(cls, command_files: dict[str, Path]) -> "Usage":
        cpu: dict[str, float] = {}
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                role = process_role(proc)
                cpu[role] = cpu.get(role, 0.0) + times.user + times.system
        commands, by_name, micros = {}, {}, {}
        for role, path in command_files.items():
            with contextlib.suppress(FileNotFoundError, ValueError):
                counted = json.loads(path.read_text())
                commands[role], by_name[role], micros[role] = counted["commands"], counted["by_name"], counted["micros"]
        return cls(cpu, commands, by_name, micros)

    def since(self, before: "Usage") -> "Usage":
        return Usage({k: v - before.cpu.get(k, 0.0) for k, v in self.cpu.items()},
                     {k: v - before.commands.get(k, 0) for k, v in self.commands.items()},
                     _minus(self.by_name, before.by_name), _minus(self.micros, before.micros))


def _minus(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {role: {name: n - before.get(role, {}).get(name, 0) for name, n in names.items()}
            for role, names in after.items()}


def run_one(server_uri: str, redis_url: str, n_workers: int, total: int, deadline: float) -> None:
    manager_db = database_uri(server_uri, "bench_dispatch_mgr")
    try:
        with tenancy(server_uri, "bench_dispatch") as farm, tempfile.TemporaryDirectory() as tmp:
            files = {"server": Path(tmp) / "server-commands.json", "manager": Path(tmp) / "manager-commands.json"}
            job_id = submit_sleep_job(farm.db, farm.project, farm.manager, farm.user, total)
            os.environ["FLAMENCO_BENCH_COMMANDS_FILE"] = str(files["server"])
            with running_server(farm.uri, redis_url, launcher=COUNTED) as base_url:
                del os.environ["FLAMENCO_BENCH_COMMANDS_FILE"]
                settings = MANAGER_SETTINGS | {"database_url": manager_db, "flamenco": base_url + "/",
                                               "worker_registration_secret": REGISTRATION_SECRET,
                                               "manager_id": str(farm.manager["_id"]),
                                               "manager_secret": farm.manager_token,
                                               "task_logs_path": str(Path(tmp) / "logs")}
                with manager_process(settings, Path(tmp) / "manager.log", files["manager"]) as manager_url:
                    started = Usage.now(files)
                    wait_for_download(manager_db, total)
                    time.sleep(1)  # the download's own commands settle before counting starts
                    before = Usage.now(files)
                    download = before.since(started)
                    generator_before = sum(psutil.Process().cpu_times()[:2])
                    with asyncio.Runner(loop_factory=new_event_loop) as runner:
                        stats, seconds = runner.run(run_workers(manager_url, n_workers, total, deadline))
                    done, waited = wait_for_server(farm.db, job_id, stats.completed)
                    time.sleep(2 * 0.2)  # the counters' last dump
                    used = Usage.now(files).since(before)
                    bench_cpu = sum(psutil.Process().cpu_times()[:2]) - generator_before
    finally:
        drop_database(manager_db)
    report(n_workers, total, stats, seconds, done, waited, used, bench_cpu)
    print("  " + download_line(total, download), flush=True)


def download_line(total: int, download: "Usage") -> str:
    """The farm's CPU before the workers start: the manager downloads the tasks and creates their log files.

    Not in the per-task figures above (they count from the first worker's
    registration), so it is printed: the log files are made here since
    2026-12-04, and their cost must stay in sight.
    """
    per_role = ", ".join(f"{role} {1000 * cpu / total:.2f}" for role, cpu in sorted(download.cpu.items()))
    return (f"before the workers (download of {total} tasks, their log files): CPU per task "
            f"{1000 * sum(download.cpu.values()) / total:.2f} ms ({per_role})")


def closed_loop_line(n_workers: int, stats: Stats) -> str:
    """What the throughput alone implies for the latencies (Little's law).

    Every simulated worker always has exactly one request in flight (no
    think time: the tasks take no time), so one task's three requests take
    ``workers / tasks per second`` on average, whatever the server does; the
    difference between the two figures is time outside the manager (the
    generator's own loop, the network stack).
    """
    rate = stats.completed / max(stats.dispatch_seconds, 1e-9)
    measured = (statistics.fmean(stats.task_ok) + 2 * statistics.fmean(stats.updates)) if stats.updates else 0.0
    return (f"closed loop: mean /task + 2 x mean update = {1000 * measured:.0f} ms; "
            f"workers / (tasks/s) = {1000 * n_workers / max(rate, 1e-9):.0f} ms (Little's law)")


def report(n_workers: int, total: int, stats: Stats, seconds: float, done: int, waited: float,
           used: Usage, bench_cpu: float) -> None:
    completed = max(stats.completed, 1)
    print(f"{n_workers} workers, {total} zero-length tasks: {stats.completed} completed in {seconds:.1f} s "
          f"= {stats.completed / seconds:.1f} tasks/s including registration and sign-on, "
          f"{stats.completed / max(stats.dispatch_seconds, 1e-9):.1f} tasks/s from the first task handed out")
    print("  " + latency_line("/task with a task", stats.task_ok))
    print("  " + latency_line("/task, nothing to do (204)", stats.task_idle))
    print("  " + latency_line("/tasks/<id>/update", stats.updates))
    print(f"  errors: {stats.errors or 'none'}; server saw {done}/{stats.completed} completed "
          f"{waited:.1f} s after the workers stopped")
    print("  " + closed_loop_line(n_workers, stats))
    cpu_total = sum(used.cpu.values())
    per_role = ", ".join(f"{role} {1000 * cpu / completed:.2f}" for role, cpu in sorted(used.cpu.items()))
    print(f"  CPU per completed task, all farm processes: {1000 * cpu_total / completed:.2f} ms ({per_role}); "
          f"the load generator (this process, same window): {1000 * bench_cpu / completed:.2f} ms")
    commands_total = sum(used.commands.values())
    per_proc = ", ".join(f"{role} {n / completed:.3f}" for role, n in sorted(used.commands.items()))
    print(f"  store commands per completed task, all processes: {commands_total / completed:.3f} ({per_proc}; "
          f"{commands_total} in all)")
    for role, names in sorted(used.by_name.items()):
        times = used.micros.get(role, {})
        listed = ", ".join(f"{name} {n} ({times.get(name, 0) / 1e6:.2f} s)"
                           for name, n in sorted(names.items(), key=lambda kv: -kv[1]) if n)
        print(f"    {role}: {listed}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="100,1000", help="comma-separated worker counts")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--deadline", type=float, default=240, help="seconds the workers may run per size")
    args = parser.parse_args()
    with data_store() as (server_uri, store), redis_service() as redis_url:
        header("manager dispatch (simulated Flamenco 2 workers, real manager + server)", store)
        for n in (int(w) for w in args.workers.split(",")):
            run_one(server_uri, redis_url, n, args.tasks, args.deadline)


if __name__ == "__main__":
    main()
