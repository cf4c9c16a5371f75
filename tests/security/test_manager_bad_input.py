"""Bad input to every JSON endpoint of the manager: a 4xx naming the field, never a 500 (issue 13).

The same classes as the server's table (test_bad_input_table.py): nesting far
beyond any real body, a lone surrogate, an integer beyond 64 bits, a NUL in
a key; plus bodies that are not JSON objects at all.
"""
from __future__ import annotations

import pytest

from flamenco_manager import tasks
from tests.manager.support import DASHBOARD_PASSWORD, Dashboard, TestWorker, server_task

DEEP = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
BAD_BODIES = {
    "deep nesting": DEEP,
    "lone surrogate": b'{"nickname": "\\ud800", "activity": "\\ud800", "paths": ["\\ud800"], "secret": "\\ud800"}',
    "integer beyond 64 bits": b'{"task_progress_percentage": 1000000000000000000000000000000, "x": 1e999999}',
    "NUL in a key": b'{"a\\u0000b": 1}',
    "not an object": b"[[null, null]]",
    "not JSON": b"{nope",
}


@pytest.fixture
def world(ctx, manager_url, new_worker):
    worker = new_worker()
    doc = server_task()
    tasks.store_downloaded(ctx, [doc])
    assert worker.get_task().status_code == 200
    return manager_url, worker, doc["_id"]


def endpoints(world) -> list[tuple[str, str, dict]]:
    url, worker, task_id = world
    dashboard = Dashboard(url)
    token = dashboard.get("/as-json").json()["csrf_token"]
    worker_auth = {"auth": (worker.worker_id, worker.secret)}
    return [
        ("/register-worker", "POST", {}),
        ("/sign-on", "POST", worker_auth),
        (f"/tasks/{task_id}/update", "POST", worker_auth),
        ("/output-produced", "POST", worker_auth),
        (f"/set-sleep-schedule/{worker.worker_id}", "POST",
         {"auth": ("admin", DASHBOARD_PASSWORD), "headers": {"X-CSRF-Token": token}}),
    ]


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_every_json_endpoint_refuses_bad_input_with_a_4xx(world, kind):
    url, worker, _ = world
    failures = []
    for path, method, extra in endpoints(world):
        headers = {"Content-Type": "application/json", **extra.get("headers", {})}
        resp = worker.session.request(method, url + path, data=BAD_BODIES[kind], headers=headers,
                                      auth=extra.get("auth"), timeout=30)
        if not 400 <= resp.status_code < 500:
            failures.append(f"{path}: {resp.status_code} {resp.text[:200]}")
        elif kind not in ("not JSON", "not an object") and "_issues" not in resp.json():
            failures.append(f"{path}: no field named in {resp.text[:200]}")
    assert not failures, "\n".join(failures)
    assert worker.get_task().status_code == 200, "the manager still serves its worker"
