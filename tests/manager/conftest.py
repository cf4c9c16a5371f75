"""Fixtures for the Manager: a context on a fresh database, and a real HTTP server for it."""
from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from flamenco.farm.services import free_port
from flamenco_manager.app import start_serving
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from tests.manager.support import DASHBOARD_PASSWORD, SettableClock, TestWorker


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def manager_settings(manager_db_uri: str, tmp_path) -> dict:
    """Settings for a test manager; tests change them before ``ctx`` is built."""
    return {
        "database_url": manager_db_uri,
        "task_logs_path": str(tmp_path / "task-logs"),
        "flamenco": "http://127.0.0.1:9/",
        "worker_seen_max_age_for_failover": 3600,
        # These tests are about other things than registration (test_worker_api covers the secret).
        "worker_registration_open": True,
        "dashboard_password": DASHBOARD_PASSWORD,
    }


@pytest.fixture
def ctx(manager_settings: dict, clock: SettableClock) -> Iterator[ManagerContext]:
    context = ManagerContext.create(build_config(manager_settings), clock=clock)
    yield context
    context.close()


@contextlib.contextmanager
def serving(ctx: ManagerContext) -> Iterator[str]:
    """Serve the manager's worker API and dashboard over real HTTP, from its engine's event loop."""
    server = start_serving(ctx, "127.0.0.1", free_port())
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def manager_url(ctx: ManagerContext) -> Iterator[str]:
    with serving(ctx) as url:
        yield url


@pytest.fixture
def new_worker(manager_url: str):
    """Factory: a registered, signed-on test worker."""
    def make(**kwargs) -> TestWorker:
        return TestWorker(manager_url, **kwargs).ready()
    return make
