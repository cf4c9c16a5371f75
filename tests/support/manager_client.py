"""Flask-test-client-shaped calls against a real Manager HTTP server.

The Manager's app is aiohttp in its engine's event loop; tests written
against Flask's ``test_client()`` keep their shape (``post(json=...,
auth=...)``, ``get_json()``, ``get_data(as_text=True)``) but go over real
HTTP to the served app. The server stops with the context's engine.
"""
from __future__ import annotations

import socket
from typing import Any

import requests

from flamenco.farm.services import free_port
from flamenco_manager.app import start_serving
from flamenco_manager.context import ManagerContext

HTTP_TIMEOUT = 30


class Response:
    def __init__(self, resp: requests.Response) -> None:
        self._resp = resp
        self.status_code = resp.status_code
        self.headers = resp.headers
        self.data = resp.content
        self.text = resp.text

    def get_json(self, silent: bool = False) -> Any:
        try:
            return self._resp.json()
        except ValueError:
            if silent:
                return None
            raise

    @property
    def json(self) -> Any:
        return self.get_json(silent=True)

    def get_data(self, as_text: bool = False) -> bytes | str:
        return self.text if as_text else self.data


class ManagerClient:
    """Serves ``ctx`` on ``host`` (loopback unless told) and calls it; ``login`` sends the
    dashboard password with every call that brings no credentials of its own."""

    def __init__(self, ctx: ManagerContext, host: str = "127.0.0.1", login: bool = False) -> None:
        self.ctx = ctx
        self.serving = start_serving(ctx, host, free_port())
        self.base = f"http://{host}:{self.serving.port}"
        self.session = requests.Session()
        if login:
            self.session.auth = ("admin", ctx.config.dashboard_password)

    def open(self, path: str, method: str = "GET", *, json: Any = None, data: Any = None,
             content_type: str | None = None, auth: tuple[str, str] | None = None,
             headers: dict | None = None, query_string: dict | None = None) -> Response:
        hdrs = dict(headers or {})
        if content_type:
            hdrs["Content-Type"] = content_type
        resp = self.session.request(method, self.base + path, json=json, data=data, auth=auth, headers=hdrs,
                                    params=query_string, allow_redirects=False, timeout=HTTP_TIMEOUT)
        return Response(resp)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.open(path, "POST", **kwargs)


def non_loopback_address() -> str:
    """An address of this machine that is not loopback (for "from another machine" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing interface
        return probe.getsockname()[0]
