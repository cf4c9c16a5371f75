"""The Managers pages show a Manager turn online when it calls the server, without a reload (issue 14 #3)."""
from __future__ import annotations

import pytest

from tests.browser.helpers import log_in, manager_api, mark_same_document, still_same_document, wait_until_live

pytestmark = pytest.mark.browser


def test_manager_turns_online_without_reload(page, server, farm, tmp_path):
    log_in(page, server)
    page.get_by_role("link", name="Managers & workers").click()
    row = page.locator(f'tr[data-manager-id="{farm["manager"]["_id"]}"]')
    assert row.locator(".presence").get_attribute("data-presence") == "never"
    assert row.locator(".last-heard").inner_text() == "never"
    wait_until_live(page)
    assert page.locator(".live-text").inner_text() == "live"
    mark_same_document(page)

    with manager_api(server, farm["manager"], farm["manager_token"]) as client:
        assert client.get("/depsgraph").status_code in (200, 204)

    row.locator('.presence[data-presence="online"]').wait_for()
    assert row.locator(".last-heard").get_attribute("datetime")
    assert row.locator(".last-heard").inner_text().endswith("UTC")
    assert still_same_document(page)
    page.screenshot(path=str(tmp_path / "managers.png"), full_page=True)

    page.get_by_role("link", name="Studio Manager").click()
    details = page.locator(f'dl[data-manager-id="{farm["manager"]["_id"]}"]')
    assert details.locator(".presence").get_attribute("data-presence") == "online"
    page.screenshot(path=str(tmp_path / "manager.png"), full_page=True)
