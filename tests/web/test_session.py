"""Logging in and out of the dashboard."""
from __future__ import annotations

from tests.web.conftest import PASSWORD, csrf_from, login


def test_anonymous_visitor_is_sent_to_login(app):
    response = app.test_client().get("/p/spring/jobs/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_with_password_then_logout(app, farm):
    client = app.test_client()
    response = login(client, "alice")
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert "Spring Shot" in home.get_data(as_text=True)
    token = csrf_from(home.get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_without_saying_which_part(app, farm):
    client = app.test_client()
    wrong = login(client, "alice", "nope")
    unknown = login(client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Unknown username or wrong password." in wrong.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_csrf_token_is_refused(app, farm):
    client = app.test_client()
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_login_redirects_only_to_local_paths(app, farm):
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login?next=https://evil.example/", data={
        "username": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_logout_needs_csrf_token(client_as):
    client = client_as("alice")
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200
