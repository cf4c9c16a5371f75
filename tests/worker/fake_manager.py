"""A small HTTP manager for worker tests: speaks the worker protocol, records what it receives.

It is a real aiohttp server on a real port, in its own thread, so the same
instance serves in-process workers (asyncio tests) and worker processes
(CLI tests). ``stop()`` and ``start()`` on the same port make it
"unreachable for a while".

It implements reference A.2.2 only as far as the worker sees it: Basic auth
with registered ids and secrets, the optional registration PSK (HS256 JWT),
a list of tasks handed out in order, pending status requests (423,
``/status-change``, ``may-i-run``), and canned or broken answers for
``may-i-run``.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any, Callable

from aiohttp import web

from flamenco.farm.services import free_port

Handler = Callable[[web.Request], Any]

WORKER_ID = web.RequestKey("worker_id", str)
"""The authenticated worker of a request ("" for /register-worker)."""
BODY = web.RequestKey("body", object)
"""The request's JSON body (None when empty)."""


@dataclasses.dataclass
class Received:
    """One request as the manager saw it."""

    method: str
    path: str
    worker_id: str | None
    body: Any
    status: int = 0
    """The HTTP status the manager answered."""


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_hs256(token: str, key: str) -> bool:
    """Verify an HS256 JWT's signature and expiry, as the Go manager's jwt-go did."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64url_decode(signature)):
            return False
        claims = json.loads(_b64url_decode(payload))
        return json.loads(_b64url_decode(header)).get("alg") == "HS256" and claims["exp"] > time.time()
    except (ValueError, KeyError, binascii.Error):
        return False


class FakeManager:
    """The manager side of the worker protocol, recording every request."""

    def __init__(self, registration_secret: str = "") -> None:
        self.port = free_port()
        self.registration_secret = registration_secret
        self.workers: dict[str, str] = {}
        """worker id -> secret."""
        self.tasks: list[dict[str, Any]] = []
        """Tasks still to hand out, in order."""
        self.known_task_ids: set[str] = set()
        self.status_requested: dict[str, str] = {}
        self.may_i_run: Handler | None = None
        """Replaces the may-i-run answer when set (a canned or broken reply)."""
        self.update_status: int | None = None
        """When set, every task update gets this status instead of being accepted."""
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # ------------------------------------------------------------------ control from tests

    def add_task(self, *commands: dict[str, Any], task_id: str | None = None) -> str:
        """Queue a task with these commands; returns its id."""
        task_id = task_id or secrets.token_hex(12)
        with self._lock:
            self.known_task_ids.add(task_id)
            self.tasks.append({"_id": task_id, "job": secrets.token_hex(12), "name": f"task-{task_id[:6]}",
                               "status": "active", "priority": 50, "job_type": "test", "task_type": "sleep",
                               "commands": list(commands)})
        return task_id

    def requests(self, path_prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.startswith(path_prefix)]

    def fetches(self) -> int:
        """How many times a worker asked for a task."""
        return sum(1 for r in self.requests("/task") if r.path == "/task")

    def updates(self, task_id: str, accepted: bool = True) -> list[dict[str, Any]]:
        """Payloads the worker sent to /tasks/<task_id>/update, in arrival order.

        Only those the manager accepted, unless ``accepted`` is False.
        """
        return [r.body for r in self.requests(f"/tasks/{task_id}/update") if r.status < 300 or not accepted]

    def task_log(self, task_id: str) -> list[str]:
        """Every log line of the task, in arrival order, without timestamps."""
        lines = []
        for update in self.updates(task_id):
            for line in update.get("log", "").splitlines():
                lines.append(line.split(": ", 1)[1] if ": " in line else line)
        return lines

    def statuses(self, task_id: str) -> list[str]:
        """The task statuses the worker reported, consecutive repeats folded."""
        result: list[str] = []
        for update in self.updates(task_id):
            status = update.get("task_status")
            if status and (not result or result[-1] != status):
                result.append(status)
        return result

    # ------------------------------------------------------------------ server lifecycle

    def start(self) -> None:
        """Serve on ``self.port`` (again, after a stop)."""
        started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True, name="fake-manager")
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("fake manager did not start")

    def _serve(self, started: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self._app(), handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        self._loop.run_until_complete(site.start())
        started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        """Stop serving: connections are refused until :meth:`start`."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> "FakeManager":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the protocol

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/register-worker", self._register)
        app.router.add_post("/sign-on", self._no_content)
        app.router.add_post("/sign-off", self._no_content)
        app.router.add_post("/task", self._task)
        app.router.add_post("/tasks/{task_id}/update", self._task_update)
        app.router.add_post("/tasks/{task_id}/return", self._no_content)
        app.router.add_get("/may-i-run/{task_id}", self._may_i_run)
        app.router.add_get("/status-change", self._status_change)
        app.router.add_post("/ack-status-change/{status}", self._ack)
        app.router.add_post("/output-produced", self._no_content)
        return app

    def _authenticated_worker(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            worker_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        with self._lock:
            return worker_id if self.workers.get(worker_id) == secret else None

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw.strip() else None
        worker_id = self._authenticated_worker(request)
        if request.path != "/register-worker" and worker_id is None:
            response: web.StreamResponse = web.Response(status=401, text="unauthorized")
        else:
            request[WORKER_ID] = worker_id or ""
            request[BODY] = body
            response = await handler(request)
        with self._lock:
            self.received.append(Received(request.method, request.path, worker_id, body, response.status))
        return response

    async def _no_content(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _register(self, request: web.Request) -> web.Response:
        if self.registration_secret:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not check_hs256(token, self.registration_secret):
                return web.Response(status=403, text="invalid registration token")
        body = request[BODY] or {}
        worker_id = secrets.token_hex(12)
        with self._lock:
            self.workers[worker_id] = body["secret"]
        return web.json_response({"_id": worker_id, "nickname": body.get("nickname"), "status": ""})

    async def _task(self, request: web.Request) -> web.Response:
        worker_id = request[WORKER_ID]
        with self._lock:
            requested = self.status_requested.get(worker_id)
            if requested:
                return web.json_response({"status_requested": requested}, status=423)
            if not self.tasks:
                return web.Response(status=204)
            return web.json_response(self.tasks.pop(0))

    async def _task_update(self, request: web.Request) -> web.Response:
        if self.update_status is not None:
            return web.Response(status=self.update_status, text="update refused by the test")
        if request.match_info["task_id"] not in self.known_task_ids:
            return web.Response(status=404, text="Task is unknown.")
        return web.Response(status=204)

    async def _may_i_run(self, request: web.Request) -> web.StreamResponse:
        if self.may_i_run is not None:
            return await self.may_i_run(request)
        requested = self.status_requested.get(request[WORKER_ID])
        if requested and requested not in ("awake", "testing"):
            return web.json_response({"may_keep_running": False, "status_requested": requested,
                                      "reason": f"worker status change to {requested} requested"})
        return web.json_response({"may_keep_running": True})

    async def _status_change(self, request: web.Request) -> web.Response:
        requested = self.status_requested.get(request[WORKER_ID])
        if requested:
            return web.json_response({"status_requested": requested})
        return web.Response(status=204)

    async def _ack(self, request: web.Request) -> web.Response:
        with self._lock:
            if self.status_requested.get(request[WORKER_ID]) == request.match_info["status"]:
                del self.status_requested[request[WORKER_ID]]
        return web.Response(status=204)
