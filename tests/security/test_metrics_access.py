"""``/metrics`` spans every project: only admins and metrics accounts read it (issue 13).

It showed every Manager, its worker count and the farm's job and task counts
to any valid token, even that of a user in no project.
"""
from __future__ import annotations

import pytest
from pymongo.database import Database

from tests.security.server_world import World, world  # noqa: F401
from tests.support.server import make_token, make_user


@pytest.mark.parametrize("who", ["member", "viewer", "manager"])
def test_metrics_are_refused_to_members_viewers_and_managers(world: World, who: str) -> None:
    resp = world.get(who, "/metrics")
    assert resp.status_code == 403
    assert "flamenco-metrics" in resp.get_json()["_message"]
    assert "Secure Manager" not in resp.get_data(as_text=True)


def test_metrics_are_refused_to_a_user_of_no_project(world: World, mongo_db: Database) -> None:
    outsider = make_token(mongo_db, make_user(mongo_db, "outsider"))
    resp = world.client().get("/metrics", headers={"Authorization": f"Bearer {outsider}"})
    assert resp.status_code == 403


def test_admins_read_metrics(world: World) -> None:
    resp = world.get("admin", "/metrics")
    assert resp.status_code == 200
    assert "Secure Manager" in resp.get_data(as_text=True)


def test_a_metrics_account_reads_metrics_and_nothing_else(world: World, mongo_db: Database) -> None:
    token = make_token(mongo_db, make_user(mongo_db, "prometheus", roles=("flamenco-metrics",)))
    headers = {"Authorization": f"Bearer {token}"}
    client = world.client()
    assert client.get("/metrics", headers=headers).status_code == 200
    assert client.get("/api/flamenco/jobs", headers=headers).status_code == 403
    assert client.get("/api/flamenco/tasks", headers=headers).status_code == 403
    assert client.get(f"/api/flamenco/managers/{world.manager['_id']}", headers=headers).status_code == 403
