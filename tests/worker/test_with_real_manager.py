"""The worker against the real Flamenco manager (flamenco_manager) over HTTP, on FerretDB."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from bson import ObjectId

from flamenco_manager import store as dbmod
from flamenco_manager import tasks, workers
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from flamenco_worker.config import WorkerConfig
from tests.conftest import fresh_database
from tests.manager.conftest import serving
from tests.manager.support import server_task
from tests.worker.conftest import FAST_TIMINGS, run, running_worker, until


@pytest.fixture
def real_manager(mongo_server: str, tmp_path: Path) -> Iterator[tuple[ManagerContext, str]]:
    """A manager context on a fresh database, served over real HTTP; yields (context, URL)."""
    with fresh_database(mongo_server, "wmgr_") as database_url:
        ctx = ManagerContext.create(build_config({
            "database_url": database_url,
            "task_logs_path": str(tmp_path / "task-logs"),
            "flamenco": "http://127.0.0.1:9/",
            "worker_registration_open": True,
        }))
        try:
            with serving(ctx) as url:
                yield ctx, url
        finally:
            ctx.close()


def real_config(url: str, tmp_path: Path) -> WorkerConfig:
    return WorkerConfig(manager_url=url, nickname="real-test", task_types=("sleep",),
                        task_update_queue_db=tmp_path / "queue.db", credentials_file=tmp_path / "credentials.cfg",
                        **FAST_TIMINGS)


def status(ctx: ManagerContext, task_id: str) -> str | None:
    task = tasks.find_task(ctx, ObjectId(task_id))
    return task["status"] if task else None


def test_worker_runs_tasks_of_real_manager(real_manager: tuple[ManagerContext, str], tmp_path: Path) -> None:
    ctx, url = real_manager
    good = server_task(commands=[{"name": "echo", "settings": {"message": "hello from the worker"}},
                                 {"name": "sleep", "settings": {"time_in_seconds": 0.1}}], priority=90)
    bad = server_task(commands=[{"name": "sleep", "settings": {}}], priority=10)
    tasks.store_downloaded(ctx, [good, bad])

    async def body() -> None:
        async with running_worker(real_config(url, tmp_path)):
            await until(lambda: status(ctx, good["_id"]) == "completed", timeout=20, what="the good task")
            await until(lambda: status(ctx, bad["_id"]) not in ("queued", "claimed-by-manager", "active"),
                        timeout=20, what="the bad task to fail")

    run(body())
    finished = tasks.find_task(ctx, ObjectId(good["_id"]))
    assert finished["activity"] == "Task completed"
    failed = tasks.find_task(ctx, ObjectId(bad["_id"]))
    assert "'time_in_seconds'" in failed["activity"] and "is required" in failed["activity"]
    log_files = list((tmp_path / "task-logs").rglob("*"))
    assert any("hello from the worker" in p.read_text() for p in log_files if p.is_file())


def test_sleep_request_returns_running_task_to_real_manager(
    real_manager: tuple[ManagerContext, str], tmp_path: Path,
) -> None:
    ctx, url = real_manager
    long_task = server_task(commands=[{"name": "sleep", "settings": {"time_in_seconds": 60}}])
    tasks.store_downloaded(ctx, [long_task])

    async def body() -> None:
        async with running_worker(real_config(url, tmp_path)) as worker:
            await until(lambda: status(ctx, long_task["_id"]) == "active", timeout=20, what="the task to start")
            workers.request_status_change(ctx, ObjectId(worker.config.worker_id), "asleep", lazy=False)
            await until(lambda: status(ctx, long_task["_id"]) == "claimed-by-manager", timeout=20,
                        what="the task back in the manager's queue")
            await until(lambda: worker_status(ctx, worker.config.worker_id) == "asleep", timeout=20,
                        what="the worker asleep on the manager")

    run(body())


def worker_status(ctx: ManagerContext, worker_id: str) -> str | None:
    doc = ctx.store.db[dbmod.WORKERS].find_one({"_id": ObjectId(worker_id)})
    return doc["status"] if doc else None
