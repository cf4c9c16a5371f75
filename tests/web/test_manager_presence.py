"""Managers' presence (issue 14 #3): the last Manager API call is "last heard from" and decides online.

The end-to-end test runs a real server process: a Manager calls the Manager API
with its token, and a logged-in person sees it turn online.
"""
from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from pymongo.database import Database

from flamenco import clock
from flamenco.managers import last_contact
from tests.support.server import running_server
from tests.web.conftest import PASSWORD, csrf_from

MANAGERS = "flamenco_managers"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server(mongo_uri: str, redis_url: str, dashboard_built: Path) -> Iterator[str]:
    with running_server(mongo_uri, redis_url) as base_url:
        yield base_url


def logged_in(base_url: str, username: str) -> httpx.Client:
    """An HTTP client with a dashboard session, logged in through the form."""
    client = httpx.Client(base_url=base_url, timeout=30)
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text
    return client


def presence_of(client: httpx.Client, manager_id: object) -> dict:
    response = client.get("/managers/presence.json", headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    found = [m for m in response.json()["managers"] if m["_id"] == str(manager_id)]
    assert len(found) == 1
    return found[0]


def manager_calls(base_url: str, manager: dict, token: str) -> None:
    """One Manager API call as a Flamenco Manager makes it (depsgraph poll, Bearer token)."""
    response = httpx.get(f"{base_url}/api/flamenco/managers/{manager['_id']}/depsgraph",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code in (200, 204), response.text


def test_manager_api_call_is_last_heard_from_and_makes_it_online(server, farm, mongo_db):
    manager = farm["manager"]
    alice = logged_in(server, "alice")
    before = presence_of(alice, manager["_id"])
    assert before["presence"] == "never" and before["last_contact"] is None
    assert "never heard from" in alice.get("/managers/").text

    manager_calls(server, manager, farm["manager_token"])

    after = presence_of(alice, manager["_id"])
    assert after["presence"] == "online"
    heard = datetime.datetime.fromisoformat(after["last_contact"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - heard).total_seconds()) < 30
    listing = alice.get("/managers/").text
    row = re.search(rf'<tr data-manager-id="{manager["_id"]}">.*?</tr>', listing, re.S)
    assert row and 'data-presence="online"' in row.group(0) and after["last_contact_text"] in row.group(0)
    details = alice.get(f"/managers/{manager['_id']}").text
    assert 'data-presence="online"' in details and after["last_contact_text"] in details

    # A second call right after does not write the store again.
    stored = mongo_db[MANAGERS].find_one({"_id": manager["_id"]})["last_contact"]
    manager_calls(server, manager, farm["manager_token"])
    assert mongo_db[MANAGERS].find_one({"_id": manager["_id"]})["last_contact"] == stored


def test_recorder_writes_at_most_once_per_interval(mongo_db: Database, farm):
    clock = FakeClock()
    recorder = last_contact.ContactRecorder(interval_seconds=15, clock=clock)
    manager_id = farm["manager"]["_id"]
    t0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)

    assert recorder.record(mongo_db, manager_id, now=t0) is True
    clock.now += 14
    assert recorder.record(mongo_db, manager_id, now=t0 + datetime.timedelta(seconds=14)) is False
    stored = mongo_db[MANAGERS].find_one({"_id": manager_id})["last_contact"]
    assert stored.replace(tzinfo=datetime.timezone.utc) == t0

    clock.now += 1
    assert recorder.record(mongo_db, manager_id, now=t0 + datetime.timedelta(seconds=15)) is True
    stored = mongo_db[MANAGERS].find_one({"_id": manager_id})["last_contact"]
    assert stored.replace(tzinfo=datetime.timezone.utc) == t0 + datetime.timedelta(seconds=15)


@pytest.mark.parametrize("silent_seconds, expected", [
    (10, "online"),
    (last_contact.ONLINE_WINDOW_SECONDS - 5, "online"),
    (last_contact.ONLINE_WINDOW_SECONDS + 30, "offline"),
])
def test_online_only_within_the_window(alice, mongo_db, farm, silent_seconds, expected):
    heard = clock.utcnow() - datetime.timedelta(seconds=silent_seconds)
    mongo_db[MANAGERS].update_one({"_id": farm["manager"]["_id"]}, {"$set": {"last_contact": heard}})
    body = alice.get("/managers/presence.json", headers={"Accept": "application/json"}).get_json()
    assert [m["presence"] for m in body["managers"]] == [expected]
    assert body["managers"][0]["last_contact_text"] == heard.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_presence_lists_only_managers_the_user_may_see(app, client_as, farm):
    assert client_as("olga").get("/managers/presence.json").get_json() == {
        "managers": [], "online_window_seconds": last_contact.ONLINE_WINDOW_SECONDS}
    anonymous = app.test_client().get("/managers/presence.json")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
