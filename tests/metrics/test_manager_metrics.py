"""/metrics on the manager: tasks, workers and update queue from its database; latencies; guarded."""
from __future__ import annotations

import pytest

from flamenco_manager import store as dbmod
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from flamenco_manager.tasks import store_downloaded
from tests.manager.support import server_task
from tests.metrics.parse import samples, value
from tests.support.manager_client import ManagerClient, non_loopback_address




def _register(client: ManagerClient, nickname: str) -> tuple[str, str]:
    secret = (nickname * 8)[:64]
    resp = client.post("/register-worker", json={"secret": secret, "platform": "linux",
                                                 "supported_task_types": ["sleep"], "nickname": nickname})
    assert resp.status_code == 200, resp.data
    return resp.json["_id"], secret


def test_gauges_match_the_manager_database(ctx: ManagerContext) -> None:
    store_downloaded(ctx, [server_task(), server_task(), server_task()])
    client = ManagerClient(ctx)
    worker_id, secret = _register(client, "metricsworker")
    assert client.post("/sign-on", json={}, auth=(worker_id, secret)).status_code == 204
    assert client.post("/task", auth=(worker_id, secret)).status_code == 200
    _register(client, "idleworker")

    resp = client.get("/metrics", auth=("prometheus", ctx.config.dashboard_password))
    assert resp.status_code == 200
    scrape = samples(resp.get_data(as_text=True))

    assert value(scrape, "flamenco_manager_tasks", status="active") == 1
    assert value(scrape, "flamenco_manager_tasks", status="claimed-by-manager") == 2
    statuses = [w.get("status") or "none" for w in ctx.store.db[dbmod.WORKERS].find()]
    for status in set(statuses):
        assert value(scrape, "flamenco_manager_workers", status=status) == statuses.count(status)
    assert value(scrape, "flamenco_manager_update_queue_length") == ctx.store.db[dbmod.UPDATE_QUEUE].count_documents({})
    assert value(scrape, "flamenco_manager_http_request_duration_seconds_count",
                 method="POST", route="/task", status="200") == 1


def test_update_queue_length_counts_queued_updates(ctx: ManagerContext) -> None:
    (task,) = [server_task()]
    store_downloaded(ctx, [task])
    client = ManagerClient(ctx)
    worker_id, secret = _register(client, "updater")
    assert client.post("/task", auth=(worker_id, secret)).status_code == 200
    for pct in (10, 20, 30):
        resp = client.post(f"/tasks/{task['_id']}/update", json={"task_progress_percentage": pct},
                           auth=(worker_id, secret))
        assert resp.status_code == 204

    scrape = samples(client.get("/metrics", auth=("prometheus", ctx.config.dashboard_password)).get_data(as_text=True))

    assert value(scrape, "flamenco_manager_update_queue_length") == ctx.store.db[dbmod.UPDATE_QUEUE].count_documents({})
    assert value(scrape, "flamenco_manager_update_queue_length") >= 3


@pytest.mark.parametrize("password, auth, expected", [("s3cret", None, 401), ("s3cret", ("x", "wrong"), 401),
                                                      ("s3cret", ("x", "s3cret"), 200)])
def test_metrics_guarded_by_dashboard_password(ctx: ManagerContext, password: str, auth, expected: int) -> None:
    ctx.config = build_config(ctx.config.as_dict() | {"dashboard_password": password})
    resp = ManagerClient(ctx).get("/metrics", auth=auth)
    assert resp.status_code == expected


def test_metrics_need_the_password_from_any_machine(ctx: ManagerContext) -> None:
    for host in ("127.0.0.1", non_loopback_address()):
        client = ManagerClient(ctx, host=host)
        assert client.get("/metrics").status_code == 401, host
        assert client.get("/metrics", auth=("prometheus", ctx.config.dashboard_password)).status_code == 200
    ctx.config = ctx.config.replace(dashboard_password="")
    assert ManagerClient(ctx).get("/metrics").status_code == 403, "a manager without a password shows nothing"
