"""Dashboard login and session hardening (issue 13).

Found: an unknown username answered in 19 ms, a known one in 529 ms (user
enumeration); 40 wrong passwords then the right one were accepted; a session
cookie still worked after logout; no SameSite on the cookie and no
X-Frame-Options / Content-Security-Policy on the pages.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import bcrypt
import flask
import pytest
from pymongo.database import Database

from flamenco.app import create_app
from tests.web.conftest import csrf_from, dashboard_built  # noqa: F401
from tests.security.server_world import ADMIN_PASSWORD, admin_password_hash
from tests.support.server import make_project, make_user

MAX_PER_USERNAME = 3
MAX_PER_ADDRESS = 6


@pytest.fixture
def app(mongo_uri: str, redis_url: str, dashboard_built: Path, tmp_path: Path) -> flask.Flask:  # noqa: F811
    return create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True, "CELERY_ENABLED": False,
                       "SECRET_KEY": "login-tests", "STORAGE_DIR": str(tmp_path),
                       "LOGIN_MAX_FAILURES_PER_USERNAME": MAX_PER_USERNAME,
                       "LOGIN_MAX_FAILURES_PER_ADDRESS": MAX_PER_ADDRESS})


@pytest.fixture
def people(mongo_db: Database) -> dict:
    """Two people who log in with ADMIN_PASSWORD, members of one project."""
    found = {}
    for name in ("alice", "bruno"):
        user = make_user(mongo_db, name)
        mongo_db["users"].update_one({"_id": user["_id"]}, {"$set": {"password_hash": admin_password_hash()}})
        found[name] = user
    make_project(mongo_db, "Login Shot", members=[(found["alice"], "member"), (found["bruno"], "member")],
                 url="login-shot")
    return found


def _login(client: flask.testing.FlaskClient, username: str = "alice", password: str = ADMIN_PASSWORD, **kw):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token}, **kw)


def _timed_failures(app: flask.Flask, username: str, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        client = app.test_client()
        token = csrf_from(client.get("/login").get_data(as_text=True))
        started = time.perf_counter()
        resp = client.post("/login", data={"username": username, "password": "wrong", "csrf_token": token})
        times.append(time.perf_counter() - started)
        assert resp.status_code == 401
    return statistics.median(times)


# -- user enumeration by timing ----------------------------------------------------


def test_unknown_usernames_cost_a_bcrypt_check_like_known_ones(app: flask.Flask, people: dict,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[bytes] = []
    real_checkpw = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, hashed: checks.append(hashed) or real_checkpw(pw, hashed))
    assert _login(app.test_client(), "nobody-here", "wrong").status_code == 401
    assert len(checks) == 1
    assert _login(app.test_client(), "alice", "wrong").status_code == 401
    assert len(checks) == 2
    # The dummy hash costs what a real one does.
    assert checks[0][:7] == checks[1][:7]  # "$2b$12$": same algorithm and cost


def test_unknown_and_known_usernames_take_about_as_long(app: flask.Flask, people: dict) -> None:
    known = _timed_failures(app, "alice")
    unknown = _timed_failures(app, "nobody-here")
    assert unknown > known * 0.5, (unknown, known)


def test_too_long_passwords_are_a_failed_login_not_an_error(app: flask.Flask, people: dict) -> None:
    assert _login(app.test_client(), "alice", "x" * 500).status_code == 401


# -- throttling ----------------------------------------------------------------------


def test_the_right_password_is_refused_after_too_many_wrong_ones(app: flask.Flask, people: dict) -> None:
    for _ in range(MAX_PER_USERNAME):
        assert _login(app.test_client(), "alice", "guess").status_code == 401
    client = app.test_client()
    resp = _login(client, "alice")
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert "Too many failed logins" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not logged in
    # Other people are not locked out by alice's guesser.
    assert _login(app.test_client(), "bruno").status_code == 302


def test_throttling_per_username_holds_across_addresses(app: flask.Flask, people: dict) -> None:
    for index in range(MAX_PER_USERNAME):
        resp = _login(app.test_client(), "alice", "guess", environ_base={"REMOTE_ADDR": f"192.0.2.{index + 1}"})
        assert resp.status_code == 401
    resp = _login(app.test_client(), "alice", environ_base={"REMOTE_ADDR": "192.0.2.200"})
    assert resp.status_code == 429


def test_throttling_per_address_holds_across_usernames(app: flask.Flask, people: dict) -> None:
    address = {"environ_base": {"REMOTE_ADDR": "198.51.100.7"}}
    for index in range(MAX_PER_ADDRESS):
        assert _login(app.test_client(), f"user-{index}", "guess", **address).status_code == 401
    assert _login(app.test_client(), "bruno", **address).status_code == 429
    assert _login(app.test_client(), "bruno", environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 302


def test_unknown_usernames_lock_like_known_ones(app: flask.Flask, people: dict) -> None:
    for _ in range(MAX_PER_USERNAME):
        assert _login(app.test_client(), "ghost", "guess").status_code == 401
    assert _login(app.test_client(), "ghost", "guess").status_code == 429


def test_a_successful_login_forgets_the_usernames_failures(app: flask.Flask, people: dict) -> None:
    for _ in range(MAX_PER_USERNAME - 1):
        assert _login(app.test_client(), "alice", "typo").status_code == 401
    assert _login(app.test_client(), "alice").status_code == 302
    for _ in range(MAX_PER_USERNAME - 1):
        assert _login(app.test_client(), "alice", "typo").status_code == 401
    assert _login(app.test_client(), "alice").status_code == 302


# -- sessions ------------------------------------------------------------------------


def test_a_session_cookie_stops_working_after_logout(app: flask.Flask, people: dict) -> None:
    client = app.test_client()
    assert _login(client).status_code == 302
    stolen = client.get_cookie("session").value
    home = client.get("/")
    assert home.status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_from(home.get_data(as_text=True))}).status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/").status_code == 302
    assert replay.get("/api/flamenco/jobs").status_code == 401


def test_logging_in_again_after_logout_works(app: flask.Flask, people: dict) -> None:
    client = app.test_client()
    assert _login(client).status_code == 302
    home = client.get("/")
    client.post("/logout", data={"csrf_token": csrf_from(home.get_data(as_text=True))})
    assert _login(client).status_code == 302
    assert client.get("/").status_code == 200


def test_session_cookie_is_samesite_lax_and_http_only(app: flask.Flask, people: dict) -> None:
    resp = _login(app.test_client())
    cookie = next(value for value in resp.headers.getlist("Set-Cookie") if value.startswith("session="))
    assert "SameSite=Lax" in cookie
    assert "HttpOnly" in cookie


# -- framing and content security policy -----------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/", "/p/login-shot/jobs/"])
def test_dashboard_pages_refuse_framing_and_foreign_scripts(app: flask.Flask, people: dict, path: str) -> None:
    client = app.test_client()
    assert _login(client).status_code == 302
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.headers["X-Frame-Options"] == "DENY"
    policy = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy


def test_api_and_linking_answers_refuse_framing_too(app: flask.Flask, people: dict) -> None:
    for path in ("/api/flamenco/jobs", "/flamenco/managers/link/choose"):
        resp = app.test_client().get(path)
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
