"""Steps the browser tests share: logging in, waiting for live updates, a Manager's HTTP calls."""
from __future__ import annotations

import httpx
from bson import ObjectId

from tests.browser.conftest import PASSWORD


def log_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


def wait_until_live(page) -> None:
    page.wait_for_selector('body[data-live="on"]')


def mark_same_document(page) -> None:
    """Remember this document, so :func:`still_same_document` can tell a reload happened."""
    page.evaluate("window.__sameDocument = true")


def still_same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def manager_api(base_url: str, manager: dict, token: str) -> httpx.Client:
    """An HTTP client speaking the Manager API as the Manager (token as Basic username, like Flamenco 2)."""
    return httpx.Client(base_url=f"{base_url}/api/flamenco/managers/{manager['_id']}", auth=(token, ""),
                        timeout=60)


def report_task_status(client: httpx.Client, task_id: ObjectId, task_status: str) -> None:
    """One task-update-batch with a single update, as a Manager pushes it."""
    update = {"_id": str(ObjectId()), "task_id": str(task_id), "task_status": task_status,
              "received_on_manager": "2026-01-01T00:00:00.000000001Z"}
    response = client.post("/task-update-batch", json=[update])
    assert response.status_code == 200, response.text
    assert response.json()["handled_update_ids"] == [update["_id"]]
