"""Fixtures for the worker tests: a fake manager over real HTTP, fast timings or a fake clock, an in-process worker."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterator, TypeVar

import pytest

from flamenco_worker.clock import SYSTEM_CLOCK, Clock
from flamenco_worker.config import WorkerConfig, load_config
from flamenco_worker.update_queue import UpdateQueue
from flamenco_worker.upstream import ManagerClient
from flamenco_worker.worker import FlamencoWorker
from tests.worker.fake_clock import FakeClock
from tests.worker.fake_manager import FakeManager

T = TypeVar("T")

TEST_TIMEOUT_SECONDS = 30.0
"""Upper bound for one asyncio test body; a hang fails the test instead of blocking CI."""

FAST_TIMINGS = dict(
    http_timeout_seconds=2.0,
    task_fetch_timeout_seconds=2.0,
    register_retry_seconds=0.1,
    fetch_retry_after_error_seconds=0.1,
    fetch_retry_no_task_seconds=0.05,
    fetch_after_task_seconds=0.05,
    error_state_seconds=0.3,
    uncaught_retry_seconds=0.1,
    asleep_poll_seconds=0.1,
    may_i_run_interval_seconds=0.1,
    queue_backpressure_recheck_seconds=0.1,
    queue_backoff_seconds=0.1,
    push_act_max_interval_seconds=0.2,
    push_log_max_interval_seconds=0.2,
    output_produced_interval_seconds=0.2,
    shutdown_flush_timeout_seconds=3.0,
    terminate_grace_seconds=1.0,
)
"""Every wait of the worker shortened so a test takes well under a second per step."""

REAL_TIME_TIMINGS = ("http_timeout_seconds", "task_fetch_timeout_seconds", "shutdown_flush_timeout_seconds",
                     "terminate_grace_seconds")
"""The timings that bound real network calls and processes: real time even under a fake clock."""


def run(coro: Awaitable[T], timeout: float = TEST_TIMEOUT_SECONDS) -> T:
    """Run an asyncio test body with a hard time limit."""
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until ``predicate()`` (or the awaitable it returns) is true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def holds() -> bool:
        value = predicate()
        return bool(await value) if inspect.isawaitable(value) else bool(value)

    while not await holds():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def end_sleep(clock: FakeClock, task_prefix: str, what: str) -> float:
    """Wait until a task whose name starts with ``task_prefix`` sleeps on ``clock``, then end that sleep.

    The clock moves exactly as far as that sleep has left (ending whatever else
    was due by then too); returns how far, so tests can assert the interval.
    """
    await until(lambda: clock.pending(task_prefix), what=f"{what} to wait on the clock ({task_prefix}*)")
    seconds = clock.pending(task_prefix)[0].remaining
    clock.advance(seconds)
    return seconds


def remaining(clock: FakeClock, task_prefix: str) -> list[float]:
    """Seconds left in the pending sleeps of the tasks called ``task_prefix``*."""
    return [sleeper.remaining for sleeper in clock.pending(task_prefix)]


@pytest.fixture
def manager() -> Iterator[FakeManager]:
    with FakeManager() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def worker_config(tmp_path: Path, manager: FakeManager) -> WorkerConfig:
    return WorkerConfig(
        manager_url=manager.url,
        nickname="test-worker",
        task_types=("sleep", "debug"),
        task_update_queue_db=tmp_path / "queue.db",
        credentials_file=tmp_path / "credentials.cfg",
        **FAST_TIMINGS,
    )


@pytest.fixture
def clocked_config(worker_config: WorkerConfig) -> WorkerConfig:
    """``worker_config`` with the worker's own default intervals, for a worker on a :class:`FakeClock`.

    On a fake clock an interval costs no real time, so the tests run with the
    values a real farm has; only the bounds on real I/O stay short.
    """
    production = WorkerConfig()
    return with_config(worker_config, **{key: getattr(production, key)
                                         for key in FAST_TIMINGS if key not in REAL_TIME_TIMINGS})


@contextlib.asynccontextmanager
async def running_worker(config: WorkerConfig, *, clock: Clock = SYSTEM_CLOCK,
                         **kwargs: bool) -> AsyncIterator[FlamencoWorker]:
    """A FlamencoWorker running in this event loop on ``clock``; shut down cleanly on exit."""
    client = ManagerClient(config.manager_url, timeout=config.http_timeout_seconds)
    queue = UpdateQueue(config.task_update_queue_db, client, backoff_seconds=config.queue_backoff_seconds,
                        clock=clock)
    worker = FlamencoWorker(config, client, queue, clock=clock, **kwargs)
    main = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.request_shutdown()
        await main
        queue.close()
        await client.aclose()


def with_config(config: WorkerConfig, **changes: object) -> WorkerConfig:
    return dataclasses.replace(config, **changes)


def with_stored_credentials(config: WorkerConfig) -> WorkerConfig:
    """``config`` with the credentials a previous run wrote, read back as a restarted worker would."""
    stored = load_config(environ={"FLAMENCO_WORKER_CREDENTIALS_FILE": str(config.credentials_file),
                                  "FLAMENCO_WORKER_MANAGER_URL": config.manager_url})
    assert stored.has_credentials
    return with_config(config, worker_id=stored.worker_id, worker_secret=stored.worker_secret)
