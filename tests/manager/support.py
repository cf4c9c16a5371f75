"""Test helpers: a worker speaking the Flamenco 2 protocol, a settable clock, tasks."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import requests
from bson import ObjectId
from flamenco.farm.supervisor import stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
# Per-request timeout of the test worker; generous for a loaded CI machine.
HTTP_TIMEOUT = 30
# The test managers' dashboard password.
DASHBOARD_PASSWORD = "test-dashboard-password"


class Dashboard:
    """A logged-in dashboard user: Basic auth, and the page's CSRF token on every action."""

    def __init__(self, base_url: str, password: str = DASHBOARD_PASSWORD) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = ("admin", password)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=HTTP_TIMEOUT, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        token = self.get("/as-json").json()["csrf_token"]
        headers = {"X-CSRF-Token": token, **kwargs.pop("headers", {})}
        return self.session.post(self.base_url + path, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)


class SettableClock:
    """The manager's clock in tests: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return dt.datetime.now(dt.timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += dt.timedelta(seconds=seconds)


@dataclass
class TestWorker:
    """An HTTP client that behaves like a Flamenco 2 worker."""

    base_url: str
    nickname: str = "worker"
    platform: str = "linux"
    task_types: list[str] = field(default_factory=lambda: ["sleep", "blender-render"])
    worker_id: str = ""
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    session: requests.Session = field(default_factory=requests.Session)

    __test__ = False  # not a pytest test class

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def register(self, headers: dict | None = None) -> requests.Response:
        resp = self.session.post(self.url("/register-worker"), json={
            "secret": self.secret, "platform": self.platform,
            "supported_task_types": self.task_types, "nickname": self.nickname,
        }, headers=headers or {}, timeout=HTTP_TIMEOUT)
        if resp.status_code == 200:
            self.worker_id = resp.json()["_id"]
            self.session.auth = (self.worker_id, self.secret)
        return resp

    def sign_on(self, **body) -> requests.Response:
        return self.session.post(self.url("/sign-on"), json=body, timeout=HTTP_TIMEOUT)

    def ready(self) -> "TestWorker":
        assert self.register().status_code == 200
        assert self.sign_on().status_code == 204
        return self

    def get_task(self) -> requests.Response:
        return self.session.post(self.url("/task"), timeout=HTTP_TIMEOUT)

    def update(self, task_id: str, **body) -> requests.Response:
        return self.session.post(self.url(f"/tasks/{task_id}/update"), json=body, timeout=HTTP_TIMEOUT)

    def return_task(self, task_id: str) -> requests.Response:
        return self.session.post(self.url(f"/tasks/{task_id}/return"), timeout=HTTP_TIMEOUT)

    def may_i_run(self, task_id: str) -> dict:
        resp = self.session.get(self.url(f"/may-i-run/{task_id}"), timeout=HTTP_TIMEOUT)
        assert resp.status_code == 200
        return resp.json()

    def status_change(self) -> requests.Response:
        return self.session.get(self.url("/status-change"), timeout=HTTP_TIMEOUT)

    def ack(self, status: str) -> requests.Response:
        return self.session.post(self.url(f"/ack-status-change/{status}"), timeout=HTTP_TIMEOUT)

    def sign_off(self) -> requests.Response:
        return self.session.post(self.url("/sign-off"), timeout=HTTP_TIMEOUT)


def server_task(job: ObjectId | None = None, *, task_type: str = "sleep", status: str = "claimed-by-manager",
                priority: int = 50, job_priority: int = 50, parents: list | None = None,
                commands: list | None = None, name: str = "task") -> dict:
    """A task document as the Server's depsgraph sends it (ids as strings)."""
    doc = {
        "_id": str(ObjectId()), "job": str(job or ObjectId()), "manager": str(ObjectId()),
        "project": str(ObjectId()), "user": str(ObjectId()), "name": name, "status": status,
        "priority": priority, "job_priority": job_priority, "job_type": "sleep", "task_type": task_type,
        "commands": commands or [{"name": "echo", "settings": {"message": "hi"}}],
        "_etag": secrets.token_hex(8),
    }
    if parents:
        doc["parents"] = [str(p) for p in parents]
    return doc


# Seconds a manager subprocess may take to start answering on a busy machine.
PROCESS_START_TIMEOUT = 60.0


def _env_value(value) -> str:
    import json
    return value if isinstance(value, str) else json.dumps(value)


@contextlib.contextmanager
def manager_process(command: str, settings: dict, log_path: Path) -> Iterator[subprocess.Popen]:
    """Run ``flamenco-manager <command>`` as a real subprocess with ``settings`` from the environment."""
    env = dict(os.environ)
    env.update({f"FLAMENCO_MANAGER_{k.upper()}": _env_value(v) for k, v in settings.items()})
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "flamenco_manager.cli", command],
                                cwd=log_path.parent, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process(proc, grace=15)


def wait_until_serving(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    """Block until the manager at ``url`` answers, or fail with its log."""
    deadline = time.monotonic() + PROCESS_START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(url + "/openapi.json", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"manager at {url} did not start (exit {proc.poll()}):\n{log_path.read_text()[-3000:]}")


def set_worker_fields(ctx, worker_id, **fields) -> None:
    """Change a worker as the manager's own code would (in its engine, journalled): a test's shortcut."""
    from flamenco_manager import workers

    ctx.engine.call(lambda: workers.change(ctx, ctx.state.workers[ObjectId(str(worker_id))], fields))
