"""HTTP client for the Server's Manager API (reference A.4, v2-server §5.3, §6).

Every call has a connect and a read timeout (the original had none, so a hung
Server stalled the whole Manager, reference D.1.2). Authentication is HTTP
Basic with the manager's token as user name and an empty password.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from flamenco_manager import __version__
from flamenco_manager.config import Config

USER_AGENT = f"Flamenco-Manager/{__version__}"
IF_UPDATED_SINCE = "X-Flamenco-If-Updated-Since"
LAST_UPDATED = "X-Flamenco-Last-Updated"
# Our Server pages the claim of queued tasks and says when more wait (Flamenco 2's does not).
MORE_TASKS = "X-Flamenco-More-Tasks"


class UpstreamError(Exception):
    """The Server could not be reached or answered with an unexpected status."""


@dataclass
class Depsgraph:
    """A depsgraph download: ``tasks`` is None when nothing changed (304) or no jobs (204)."""

    status_code: int
    tasks: list[dict] | None
    last_updated: str | None
    more: bool = False  # the Server has more queued tasks for us: ask again at once


class Upstream:
    """One manager's connection to the Server."""

    def __init__(self, config: Config) -> None:
        self.base = config.flamenco.rstrip("/")
        self.manager_id = config.manager_id
        self.timeout = (config.upstream_connect_timeout, config.upstream_read_timeout)
        self.session = requests.Session()
        self.session.auth = (config.manager_secret, "")
        self.session.headers["User-Agent"] = USER_AGENT

    def _url(self, path: str) -> str:
        return f"{self.base}/api/flamenco/managers/{self.manager_id}/{path}"

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP call; a network error or time-out becomes UpstreamError."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, url, **kwargs)
        except requests.RequestException as ex:
            raise UpstreamError(f"{method} {url}: {ex}") from ex

    def _request(self, method: str, path: str, ok: tuple[int, ...], **kwargs: Any) -> requests.Response:
        resp = self._send(method, self._url(path), **kwargs)
        if resp.status_code not in ok:
            raise UpstreamError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp

    def depsgraph(self, if_updated_since: str | None) -> Depsgraph:
        headers = {IF_UPDATED_SINCE: if_updated_since} if if_updated_since else {}
        resp = self._request("GET", "depsgraph", (200, 204, 304), headers=headers)
        if resp.status_code != 200:
            return Depsgraph(resp.status_code, None, None)
        try:
            graph = resp.json()["depsgraph"]
        except (ValueError, KeyError, TypeError) as ex:
            raise UpstreamError(f"depsgraph: unexpected reply: {ex}") from ex
        return Depsgraph(200, graph, resp.headers.get(LAST_UPDATED),
                         more=resp.headers.get(MORE_TASKS, "").lower() == "true")

    def push_updates(self, updates: list[dict]) -> dict:
        """POST a task-update batch; returns the TaskUpdateResponse."""
        resp = self._request("POST", "task-update-batch", (200,), json=updates)
        try:
            body = resp.json()
        except ValueError as ex:
            raise UpstreamError(f"task-update-batch: reply is not JSON: {ex}") from ex
        if not isinstance(body, dict):
            raise UpstreamError("task-update-batch: reply is not a JSON object")
        return body

    def notify(self, kind: str, document: dict) -> None:
        """``startup`` or ``update`` notification."""
        self._request("POST", kind, (200, 204), json=document)

    def attach_task_log(self, task_id: str, gzipped_log: bytes) -> None:
        files = {"logfile": (f"task-{task_id}.txt.gz", gzipped_log, "text/plain+gzip")}
        self._request("POST", f"attach-task-log/{task_id}", (200, 201), files=files)

    def upload_last_rendered(self, job_id: str, jpeg: bytes) -> bool:
        """POST a job's preview image; False when the Server refuses it (a 4xx: it would again)."""
        files = {"image": ("last-rendered.jpg", jpeg, "image/jpeg")}
        resp = self._send("POST", self._url(f"last-rendered/{job_id}"), files=files)
        if resp.status_code in (200, 201, 204):
            return True
        if 400 <= resp.status_code < 500:
            return False
        raise UpstreamError(f"POST last-rendered/{job_id}: HTTP {resp.status_code}: {resp.text[:500]}")

