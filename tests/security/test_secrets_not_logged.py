"""Passwords, tokens and worker secrets never appear in logs.

Requests that succeed and requests that fail (wrong token, wrong secret) are
made with every kind of credential, with logging at DEBUG; then the captured
log text is searched for each credential. One test also runs the real server
and manager processes and searches their whole output.
"""
from __future__ import annotations

import base64
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import flask
import httpx
import jwt
import pytest
from click.testing import CliRunner
from pymongo.database import Database

from flamenco.farm.services import free_port
from flamenco_manager.cli import main as manager_cli
from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from tests.support.manager_client import ManagerClient
from tests.support.server import REPO_ROOT, make_manager, make_token, make_user
from flamenco.farm.supervisor import stop_process

# How long a started process may take to answer (a busy CI machine).
START_TIMEOUT = 60.0


def _basic(username: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_server_logs_no_tokens_or_passwords(server_app: flask.Flask, mongo_db: Database,
                                            caplog: pytest.LogCaptureFixture) -> None:
    password = "server password " + secrets.token_hex(8)
    user = make_user(mongo_db, "logged-user", password=password)
    token = make_token(mongo_db, user)
    _, manager_token = make_manager(mongo_db)
    wrong_token = "wrong-" + secrets.token_hex(16)
    client = server_app.test_client()
    caplog.set_level(logging.DEBUG)

    for auth in (f"Bearer {token}", _basic(token), f"Bearer {wrong_token}", _basic(manager_token),
                 _basic(wrong_token, password)):
        client.get("/api/flamenco/jobs", headers={"Authorization": auth})
        client.post("/api/flamenco/jobs", json={"name": password}, headers={"Authorization": auth})
    client.post("/login", data={"username": "logged-user", "password": password})
    client.post("/login", data={"username": "logged-user", "password": password + "x"})

    for secret in (password, token, manager_token, wrong_token):
        assert secret not in caplog.text


def test_manager_logs_no_worker_secrets(ctx: ManagerContext, caplog: pytest.LogCaptureFixture) -> None:
    registration_secret = "registration " + secrets.token_hex(16)
    dashboard_password = "dashboard " + secrets.token_hex(8)
    config = build_config(ctx.config.as_dict() | {"worker_registration_secret": registration_secret,
                                                  "dashboard_password": dashboard_password})
    ctx.config = config
    client = ManagerClient(ctx)
    worker_secret = secrets.token_hex(32)
    registration_jwt = jwt.encode({"iat": int(time.time())}, registration_secret, algorithm="HS256")
    caplog.set_level(logging.DEBUG)

    resp = client.post("/register-worker", json={"secret": worker_secret, "platform": "linux",
                                                 "supported_task_types": ["sleep"], "nickname": "quiet"},
                       headers={"Authorization": f"Bearer {registration_jwt}"})
    assert resp.status_code == 200
    worker_id = resp.json["_id"]
    client.post("/register-worker", json={"secret": worker_secret, "platform": "linux"},
                headers={"Authorization": "Bearer " + jwt.encode({}, "wrong-" + secrets.token_hex(16), algorithm="HS256")})
    client.post("/sign-on", json={}, auth=(worker_id, worker_secret))
    client.post("/task", auth=(worker_id, worker_secret[::-1]))
    client.get("/as-json", auth=("admin", dashboard_password))
    client.get("/metrics", auth=("admin", dashboard_password[::-1]))

    for secret in (worker_secret, worker_secret[::-1], registration_secret, registration_jwt, dashboard_password):
        assert secret not in caplog.text


def test_manager_show_config_masks_secrets() -> None:
    secrets_in_config = {"manager_secret": "mgr-" + secrets.token_hex(8),
                         "worker_registration_secret": "reg-" + secrets.token_hex(8),
                         "dashboard_password": "dash-" + secrets.token_hex(8)}
    env = {f"FLAMENCO_MANAGER_{k.upper()}": v for k, v in secrets_in_config.items()}
    result = CliRunner().invoke(manager_cli, ["show-config"], env=env)
    assert result.exit_code == 0, result.output
    for value in secrets_in_config.values():
        assert value not in result.output


def _wait_for(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    full_env = dict(os.environ) | env | {"PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=log.parent, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    stop_process(proc, grace=15)


def test_real_processes_log_no_secrets(mongo_uri: str, mongo_db: Database, redis_url: str,
                                       tmp_path: Path) -> None:
    """The server and the manager as real processes at DEBUG level: their whole output is clean."""
    registration_secret = "registration " + secrets.token_hex(16)
    user_token = make_token(mongo_db, make_user(mongo_db, "process-user"))
    manager, manager_token = make_manager(mongo_db)
    server_port, manager_port = free_port(), free_port()
    server_log, manager_log = tmp_path / "server.log", tmp_path / "manager.log"
    server = _start(["flamenco.cli", "--log-level", "DEBUG", "server", "--host", "127.0.0.1",
                     "--port", str(server_port)],
                    {"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": "true", "CELERY_ENABLED": "false",
                     "SECRET_KEY": secrets.token_hex(32)},
                    server_log)
    manager_db = mongo_uri.rsplit("/", 1)[0] + "/" + mongo_db.name + "_mgr?" + mongo_uri.split("?", 1)[1]
    mgr = _start(["flamenco_manager.cli", "--debug", "serve"],
                 {"FLAMENCO_MANAGER_DATABASE_URL": manager_db, "FLAMENCO_MANAGER_LISTEN": f"127.0.0.1:{manager_port}",
                  "FLAMENCO_MANAGER_MANAGER_ID": str(manager["_id"]), "FLAMENCO_MANAGER_MANAGER_SECRET": manager_token,
                  "FLAMENCO_MANAGER_FLAMENCO": f"http://127.0.0.1:{server_port}/",
                  "FLAMENCO_MANAGER_TASK_LOGS_PATH": str(tmp_path / "logs"),
                  "FLAMENCO_MANAGER_WORKER_REGISTRATION_SECRET": registration_secret},
                 manager_log)
    worker_secret = secrets.token_hex(32)
    registration_jwt = jwt.encode({"iat": int(time.time())}, registration_secret, algorithm="HS256")
    try:
        server_url, manager_url = f"http://127.0.0.1:{server_port}", f"http://127.0.0.1:{manager_port}"
        _wait_for(server_url + "/api/openapi.json", server, server_log)
        _wait_for(manager_url + "/openapi.json", mgr, manager_log)
        for token in (user_token, manager_token, "bogus-" + worker_secret[:16]):
            httpx.get(server_url + "/api/flamenco/jobs", headers={"Authorization": f"Bearer {token}"})
            httpx.get(server_url + f"/api/flamenco/managers/{manager['_id']}/depsgraph", auth=(token, ""))
        worker = httpx.post(manager_url + "/register-worker", json={
            "secret": worker_secret, "platform": "linux", "supported_task_types": ["sleep"], "nickname": "proc"},
            headers={"Authorization": f"Bearer {registration_jwt}"}).json()
        httpx.post(manager_url + "/sign-on", json={}, auth=(worker["_id"], worker_secret))
        httpx.post(manager_url + "/task", auth=(worker["_id"], worker_secret))
        httpx.post(manager_url + "/task", auth=(worker["_id"], worker_secret[::-1]))
    finally:
        _stop(server)
        _stop(mgr)
        mongo_db.client.drop_database(mongo_db.name + "_mgr")
    output = server_log.read_text() + manager_log.read_text()
    assert "Flamenco server on" in output and "serving workers" in output  # the logs were captured at all
    for secret in (user_token, manager_token, worker_secret, worker_secret[::-1], registration_secret,
                   registration_jwt):
        assert secret not in output
