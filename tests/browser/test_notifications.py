"""The project's Notifications page in a real browser against a real server process.

A project admin follows the link from the job list, adds a webhook (the
secret is shown once, and the database keeps it only encrypted), sees a
wrong URL refused with the field named, queues a test event that appears in
the delivery log, saves e-mail recipients, and deletes the webhook. A viewer
of the project is refused the page.
"""
from __future__ import annotations

import pytest

from flamenco.notifications import defaults
from tests.browser.conftest import PASSWORD
from tests.browser.test_dashboard import log_in
from tests.support.server import make_user

pytestmark = pytest.mark.browser

RECEIVER = "https://ci.example.com/flamenco-hook"


def test_admin_manages_webhooks_and_reads_the_log(page, server, farm, mongo_db, screenshot_dir):
    log_in(page, server)
    page.goto(f"{server}/p/spring/")
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("heading", name="Notifications of Spring Shot").wait_for()

    page.get_by_label("Receiver URL").fill("ftp://ci.example.com/hook")
    page.get_by_role("button", name="Add webhook").click()
    assert "url: scheme must be http or https" in page.get_by_role("alert").inner_text()

    page.get_by_label("Receiver URL").fill(RECEIVER)
    page.get_by_role("button", name="Add webhook").click()
    secret = page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    stored = mongo_db[defaults.WEBHOOKS].find_one({"url": RECEIVER})
    assert stored is not None and secret not in str(stored)
    page.screenshot(path=str(screenshot_dir / "notifications-created.png"), full_page=True)

    page.goto(f"{server}/p/spring/notifications/")
    assert page.locator("#webhook-secret").count() == 0
    assert secret not in page.content()

    row = page.locator(f'tr[data-webhook-id="{stored["_id"]}"]')
    row.get_by_role("button", name="Send test").click()
    assert "Test event queued" in page.get_by_role("status").first.inner_text()
    log_row = page.locator("table.delivery-log tbody tr")
    assert log_row.count() == 1
    assert "ping" in log_row.inner_text() and RECEIVER in log_row.inner_text()
    # This server runs without Celery, so the delivery is logged as not queued.
    assert log_row.get_attribute("data-state") == "not-queued"

    page.get_by_label("E-mail recipients").fill("lead@example.com, nobody")
    page.get_by_role("button", name="Save settings").click()
    assert "email_recipients" in page.get_by_role("alert").inner_text()
    page.get_by_label("E-mail recipients").fill("lead@example.com td@example.com")
    page.get_by_label("Also notify on every failed task").check()
    page.get_by_role("button", name="Save settings").click()
    assert "settings saved" in page.get_by_role("status").first.inner_text()
    saved = mongo_db[defaults.SETTINGS].find_one({"_id": farm["project"]["_id"]})
    assert saved["email_recipients"] == ["lead@example.com", "td@example.com"] and saved["task_failures"] is True

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-webhook-id="{stored["_id"]}"]').get_by_role("button", name="Delete").click()
    page.get_by_text("No webhooks yet.").wait_for()
    assert mongo_db[defaults.WEBHOOKS].count_documents({}) == 0


def test_viewer_is_refused_the_page(page, server, farm, mongo_db):
    viewer = make_user(mongo_db, "val", roles=("flamenco-viewer",), password=PASSWORD)
    mongo_db["projects"].update_one({"_id": farm["project"]["_id"]},
                                    {"$push": {"members": {"user": viewer["_id"], "role": "viewer"}}})
    page.goto(f"{server}/login")
    page.get_by_label("Username").fill("val")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/")
    page.goto(f"{server}/p/spring/")
    assert page.get_by_role("link", name="Notifications").count() == 0
    response = page.goto(f"{server}/p/spring/notifications/")
    assert response.status == 403
    assert "only an admin of this project" in page.content()
