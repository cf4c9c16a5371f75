"""Every endpoint of the server and the manager refuses a caller without credentials.

Table-driven over each app's URL map, so a route added later is checked
without anyone listing it: API routes must answer 401 or 403, dashboard
pages must send the browser to the login page (directly, or through the
redirects of Flamenco 2's old URLs). The few public endpoints are
listed in ``PUBLIC`` with the reason they are public, and are checked to do
nothing useful for an anonymous caller beyond that reason.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import re

import flask
import pytest

from flamenco_manager.config import build_config
from flamenco_manager.context import ManagerContext
from tests.support.manager_client import ManagerClient, non_loopback_address
from tests.security.conftest import sample_url

# Server endpoints anonymous callers may reach, and why.
SERVER_PUBLIC = {
    "static": "Flask's static files",
    "web.static": "dashboard assets (CSS, JS)",
    "web.projects.favicon": "the site icon, which browsers ask for before anyone logs in",
    "web.session.login": "the login form itself",
    "web.session.logout": "logging out (redirects to the login page)",
    "flamenco_openapi.openapi_json": "the API description holds no data",
    "manager_api.link_exchange": "linking step 1 is anonymous by protocol (reference §5.4)",
    "manager_api.link_reset_token": "linking's last step is HMAC-authenticated, not token-authenticated",
}
# Manager endpoints anonymous callers may reach, and why.
MANAGER_PUBLIC = {
    "worker_api.register_worker": "refused (403) here because a registration secret is set; open by protocol otherwise",
    "openapi.openapi_json": "the API description holds no data",
    "views.redirect_to_server": "a redirect to the Server's task page; shows nothing itself",
}
# Anonymous dashboard pages redirect here instead of answering 401.
LOGIN_PATH = "/login"
# An address that is not the manager's own machine (TEST-NET-1, RFC 5737): the
# manager's dashboard is open to loopback callers when it has no password.
REMOTE_ADDR = "192.0.2.10"


def _routes(app: flask.Flask):
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


# Redirects that a dashboard route may answer with.
REDIRECTS = (301, 302, 303, 307, 308)
# Legacy URLs redirect to their new home; follow at most this many hops.
MAX_REDIRECTS = 3


def _refused(client, path: str, response, hops: int = 0) -> bool:
    """401/403, or (dashboard pages) a redirect to the login page, possibly
    after redirects to other pages of this site (Flamenco 2's old URLs)."""
    if response.status_code in (401, 403):
        return True
    if path.startswith("/api/") or path == "/metrics" or response.status_code not in REDIRECTS:
        return False
    target = urlsplit(response.headers.get("Location", ""))
    if target.path.endswith(LOGIN_PATH):
        return True
    if target.netloc not in ("", "localhost") or hops >= MAX_REDIRECTS:
        return False
    follow = target.path + (f"?{target.query}" if target.query else "")
    return _refused(client, target.path, client.get(follow), hops + 1)


def test_every_server_endpoint_refuses_anonymous_callers(server_app: flask.Flask) -> None:
    client = server_app.test_client()
    checked, wrong = 0, []
    for rule, method in _routes(server_app):
        if rule.endpoint in SERVER_PUBLIC:
            continue
        path = sample_url(rule)
        response = client.open(path, method=method)
        checked += 1
        if not _refused(client, path, response):
            wrong.append(f"{method} {path} -> {response.status_code}")
    assert checked >= 30, "the URL map looks too small to be the whole server"
    assert not wrong, "anonymous requests not refused:\n" + "\n".join(wrong)


def test_server_api_refuses_a_wrong_token(server_app: flask.Flask) -> None:
    client = server_app.test_client()
    wrong = []
    for rule, method in _routes(server_app):
        path = sample_url(rule)
        if rule.endpoint in SERVER_PUBLIC or not path.startswith("/api/"):
            continue
        for headers in ({"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic bm90LWEtdG9rZW46"}):
            response = client.open(path, method=method, headers=headers)
            if response.status_code not in (401, 403):
                wrong.append(f"{method} {path} {headers['Authorization'].split()[0]} -> {response.status_code}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("endpoint, body", [
    ("manager_api.link_exchange", {}),
    ("manager_api.link_reset_token", {"identifier": "5f0000000000000000000001",
                                      "manager_id": "5f0000000000000000000002", "padding": "x", "hmac": "00"}),
])
def test_public_linking_endpoints_give_nothing_without_a_valid_key(server_app: flask.Flask, endpoint: str,
                                                                   body: dict) -> None:
    rules = [r for r in server_app.url_map.iter_rules() if r.endpoint == endpoint]
    assert rules, f"{endpoint} is routed"
    response = server_app.test_client().post(rules[0].rule, json=body)
    assert 400 <= response.status_code < 500
    assert "token" not in (response.get_json(silent=True) or {})


def _guarded_manager(ctx: ManagerContext, **changes) -> ManagerClient:
    """The manager served on a non-loopback address, so its callers are "from another machine"."""
    ctx.config = build_config(ctx.config.as_dict() | changes)
    return ManagerClient(ctx, host=non_loopback_address())


def _manager_routes(client: ManagerClient):
    app = client.serving.runner.app
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS", "*"):
            continue
        yield f"{route.handler.__module__.rsplit('.', 1)[-1]}.{route.handler.__name__}", route.resource.canonical, route.method


@pytest.mark.parametrize("dashboard_password", ["", "dashboard-secret"])
def test_every_manager_endpoint_refuses_anonymous_callers(ctx: ManagerContext, dashboard_password: str) -> None:
    client = _guarded_manager(ctx, dashboard_password=dashboard_password,
                              worker_registration_secret="registration-secret")
    checked, wrong = 0, []
    for endpoint, canonical, method in _manager_routes(client):
        if endpoint in MANAGER_PUBLIC and endpoint != "worker_api.register_worker":
            continue
        path = re.sub(r"\{[^}]*\}", "0123456789abcdef01234567", canonical)
        response = client.open(path, method=method)
        checked += 1
        if response.status_code not in (401, 403):
            wrong.append(f"{method} {path} -> {response.status_code}")
    assert checked >= 15, "the URL map looks too small to be the whole manager"
    assert not wrong, "anonymous requests not refused:\n" + "\n".join(wrong)


def test_manager_worker_api_refuses_wrong_worker_secret(ctx: ManagerContext) -> None:
    client = ManagerClient(ctx)
    secret = "s" * 64
    resp = client.post("/register-worker", json={"secret": secret, "platform": "linux",
                                                 "supported_task_types": ["sleep"], "nickname": "w"})
    worker_id = resp.json["_id"]
    for path, method in (("/task", "POST"), ("/sign-on", "POST"), ("/status-change", "GET"),
                         (f"/may-i-run/{worker_id}", "GET")):
        wrong_secret = client.open(path, method=method, auth=(worker_id, "t" * 64))
        assert wrong_secret.status_code == 401, path
        no_such_worker = client.open(path, method=method, auth=("5f0000000000000000000001", secret))
        assert no_such_worker.status_code == 401, path
