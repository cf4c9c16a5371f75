"""Notifications through real processes: a server, a Celery worker, a local HTTP
receiver and a local SMTP server.

A Manager completes a job over the Manager API; the server's status rules
announce it, the listener queues deliveries, the Celery worker POSTs the
signed event and sends the e-mail. A receiver that answers 500 twice gets
the same event three times, and the log the admin reads shows the attempts.
"""
from __future__ import annotations

import datetime
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from bson import ObjectId

from flamenco.farm.supervisor import stop_process
from flamenco.notifications import signing
from tests.server.notifications.conftest import DELIVERY_TIMEOUT, Receiver, SmtpServer
from tests.support.server import REPO_ROOT, make_job, make_manager, make_project, make_token, make_user, \
    running_server

# Short back-off so three attempts take about 1.5 s (production waits 30 s, then 60 s, ...).
RETRY_BASE_SECONDS = 0.5


@pytest.fixture
def shared_config(smtp_server: SmtpServer) -> dict[str, str]:
    """Settings the server and its Celery worker must agree on (as `flamenco farm` passes them)."""
    return {"SECRET_KEY": secrets.token_hex(32), "SMTP_HOST": smtp_server.host, "SMTP_PORT": str(smtp_server.port),
            "SMTP_FROM": "farm@example.com", "WEBHOOK_RETRY_BASE_SECONDS": str(RETRY_BASE_SECONDS)}


@pytest.fixture
def celery_worker(mongo_uri: str, redis_url: str, shared_config: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    env = dict(os.environ, MONGO_URI=mongo_uri, REDIS_URL=redis_url, **shared_config,
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log_path = tmp_path / "celery-worker.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "flamenco.celery", "worker", "--pool=solo",
                                 "--concurrency=1", "--loglevel=INFO", "--without-mingle", "--without-gossip",
                                 "--without-heartbeat"],
                                cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield log_path
        finally:
            stop_process(proc, grace=15)


@pytest.fixture
def farm(mongo_db):
    admin = make_user(mongo_db, "nina")
    project = make_project(mongo_db, "Film", members=[(admin, "admin")])
    manager, manager_token = make_manager(mongo_db, projects=[project], owner=admin)
    return {"admin": admin, "project": project, "manager": manager, "manager_token": manager_token,
            "token": make_token(mongo_db, admin)}


@pytest.fixture
def server(mongo_uri, redis_url, shared_config, celery_worker, tmp_path) -> Iterator[str]:
    with running_server(mongo_uri, redis_url, CELERY_ENABLED=True, STORAGE_DIR=str(tmp_path / "storage"),
                        **shared_config) as base_url:
        yield base_url


def api(server: str, farm: dict) -> httpx.Client:
    return httpx.Client(base_url=f"{server}/api/flamenco/projects/{farm['project']['_id']}",
                        headers={"Authorization": f"Bearer {farm['token']}"}, timeout=60)


def complete_over_manager_api(server: str, farm: dict) -> None:
    """What a Manager 2.x does: download the depsgraph, report every task completed."""
    with httpx.Client(base_url=f"{server}/api/flamenco/managers/{farm['manager']['_id']}",
                      auth=(farm["manager_token"], ""), timeout=60) as client:
        tasks = client.get("/depsgraph").json()["depsgraph"]
        updates = [{"_id": str(ObjectId()), "task_id": t["_id"], "task_status": "completed",
                    "received_on_manager": "2026-01-01T00:00:00.000000001Z"} for t in tasks]
        assert client.post("/task-update-batch", json=updates).status_code == 200


def wait_for_log(client: httpx.Client, done: set[str], count: int, worker_log: Path) -> list[dict]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    items: list[dict] = []
    while time.monotonic() < deadline:
        items = client.get("/notification-deliveries").json()["_items"]
        if len(items) >= count and all(d["state"] in done for d in items):
            return items
        time.sleep(0.2)
    raise AssertionError(f"deliveries not finished: {items}\n{worker_log.read_text()[-3000:]}")


def test_completed_job_is_posted_signed_and_mailed(server, farm, mongo_db, receiver: Receiver,
                                                   smtp_server: SmtpServer, celery_worker):
    with api(server, farm) as client:
        created = client.post("/webhooks", json={"url": receiver.url})
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        assert client.patch("/notification-settings",
                            json={"email_recipients": ["lead@example.com"]}).status_code == 200
        job = make_job(mongo_db, farm["project"], farm["manager"], farm["admin"], name="Shot 020 comp")
        complete_over_manager_api(server, farm)

        [request] = receiver.wait_for(1)
        event = json.loads(request.body)
        assert event["type"] == "job.completed"
        assert event["job"]["id"] == str(job["_id"]) and event["job"]["status"] == "completed"
        assert request.headers["X-Flamenco-Event-Id"] == event["id"]
        assert signing.verify(secret, request.body, request.headers["X-Flamenco-Timestamp"],
                              request.headers["X-Flamenco-Signature"], now=time.time())

        [(recipients, message)] = smtp_server.mailbox.wait_for(1)
        assert recipients == ["lead@example.com"]
        assert message["Subject"] == "[Flamenco] Film: job Shot 020 comp completed"
        assert event["id"] in message.get_payload()

        log = wait_for_log(client, {"delivered"}, 2, celery_worker)
        assert {d["channel"] for d in log} == {"webhook", "email"}
        assert {d["event_id"] for d in log} == {event["id"]}


def test_failing_receiver_gets_three_attempts_and_the_log_shows_them(server, farm, receiver: Receiver,
                                                                      celery_worker):
    receiver.codes = [500, 500]
    with api(server, farm) as client:
        webhook_id = client.post("/webhooks", json={"url": receiver.url}).json()["_id"]
        assert client.post(f"/webhooks/{webhook_id}/test").status_code == 202
        [delivery] = wait_for_log(client, {"delivered", "failed"}, 1, celery_worker)

    assert delivery["state"] == "delivered"
    assert [(a["number"], a["status_code"]) for a in delivery["attempts"]] == [(1, 500), (2, 500), (3, 200)]
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    assert len({r.headers["X-Flamenco-Event-Id"] for r in requests}) == 1
    # Back-off: retry n waits RETRY_BASE_SECONDS * 2**(n-1) at least (an ETA is never early).
    times = [datetime.datetime.fromisoformat(a["at"]) for a in delivery["attempts"]]
    assert (times[1] - times[0]).total_seconds() >= RETRY_BASE_SECONDS
    assert (times[2] - times[1]).total_seconds() >= 2 * RETRY_BASE_SECONDS
