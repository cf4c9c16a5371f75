"""Fixtures of the browser tests: a real server process and Debian's headless Chromium.

Playwright drives ``/usr/bin/chromium``; it never downloads a browser.
Screenshots go to ``test-artifacts/screenshots/`` (gitignored).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from pymongo.database import Database

from tests.support.server import make_manager, make_project, make_token, make_user, running_server
from tests.web.conftest import dashboard_built  # noqa: F401 (shared fixture)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# Playwright waits at most this long (ms) for anything on a page: long enough
# for a busy 2-core CI machine, short enough to fail fast when broken.
PAGE_TIMEOUT_MS = 15_000
PASSWORD = "browser-test-password"
# A laptop screen.
VIEWPORT = {"width": 1366, "height": 800}


# Module scope, not session: Playwright's sync API keeps an asyncio loop
# running in the main thread while it is open, and every later test that
# calls asyncio.run() (the worker's) would fail with "cannot be called from a
# running event loop".
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./dev setup does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    yield page
    context.close()


@pytest.fixture
def farm(mongo_db: Database) -> dict:
    """A user with a password and a token, their project and a Manager."""
    alice = make_user(mongo_db, "alice", password=PASSWORD, full_name="Alice Artist")
    project = make_project(mongo_db, "Spring Shot", members=[(alice, "admin")], url="spring")
    manager, manager_token = make_manager(mongo_db, projects=[project], owner=alice, name="Studio Manager")
    return {"alice": alice, "project": project, "manager": manager, "manager_token": manager_token,
            "token": make_token(mongo_db, alice)}


@pytest.fixture
def server(mongo_uri: str, redis_url: str, dashboard_built: Path) -> Iterator[str]:
    with running_server(mongo_uri, redis_url) as base_url:
        yield base_url


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
