"""App start-up, authentication and the error shape."""
from __future__ import annotations

import base64

import httpx

from flamenco.auth import tokens
from tests.support.server import make_token, make_user, running_server


def test_anonymous_gets_401_in_pillar_error_shape(world):
    resp = world.api(None).get("/api/flamenco/jobs")
    assert resp.status_code == 401
    body = resp.get_json()
    assert body["_status"] == "ERR" and body["_code"] == 401 and "token" in body["_message"]


def test_bearer_and_basic_username_token_both_authenticate(world):
    ok = world.api("alice").get("/api/flamenco/jobs")
    assert ok.status_code == 200
    basic = base64.b64encode(f"{world.tokens['alice']}:".encode()).decode()
    resp = world.client.get("/api/flamenco/jobs", headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200


def test_unknown_and_expired_tokens_are_rejected(world, mongo_db):
    assert world.client.get("/api/flamenco/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
    user = make_user(mongo_db, "old")
    expired = make_token(mongo_db, user, days=-1)
    assert world.client.get("/api/flamenco/jobs",
                            headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_tokens_are_stored_hashed_only(mongo_db):
    user = make_user(mongo_db, "carol")
    token = make_token(mongo_db, user)
    stored = mongo_db["tokens"].find_one({"user": user["_id"]})
    assert token not in str(stored)
    assert stored["token_hashed"] == tokens.hash_token(token)
    assert tokens.user_for_token(mongo_db, token)["_id"] == user["_id"]
    assert tokens.user_for_token(mongo_db, token + "x") is None


def test_running_server_serves_http(mongo_uri, redis_url, mongo_db):
    user = make_user(mongo_db, "dave")
    token = make_token(mongo_db, user)
    with running_server(mongo_uri, redis_url) as base_url:
        assert httpx.get(f"{base_url}/api/flamenco/jobs").status_code == 401
        resp = httpx.get(f"{base_url}/api/flamenco/jobs", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200
        assert resp.json()["_items"] == []


def test_extensions_contribute_resources_blueprints_and_links(mongo_uri, redis_url):
    import flask

    from flamenco.app import create_app, web_links
    from flamenco.extension import Extension, FlamencoExtension, WebLink

    class Notes(Extension):
        name = "notes"

        def eve_resources(self):
            return {"notes_items": {"url": "notes/items", "schema": {"text": {"type": "string"}}}}

        def blueprints(self):
            bp = flask.Blueprint("notes", __name__, url_prefix="/notes")
            bp.add_url_rule("/ping", "ping", lambda: "pong")
            return [bp]

        def web_links(self):
            return [WebLink("Notes", "/notes/")]

    app = create_app({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": True},
                     extensions=[FlamencoExtension(), Notes()])
    client = app.test_client()
    assert client.get("/notes/ping").get_data(as_text=True) == "pong"
    assert client.get("/api/notes/items").status_code == 401
    assert [link.title for link in web_links(app)] == ["Render Management", "Notes"]
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert any(rule.startswith("/api/flamenco/managers/<") and "depsgraph" in rule for rule in rules)


def test_startup_creates_indexes(app, mongo_db):
    def keys(collection):
        return {tuple(k for k, _ in spec["key"]) for spec in mongo_db[collection].index_information().values()}

    assert {("job",), ("parents",), ("manager", "status"), ("_updated",)} <= keys("flamenco_tasks")
    assert {("project",), ("manager", "status")} <= keys("flamenco_jobs")
    assert {("task", "received_on_manager")} <= keys("flamenco_task_logs")
    assert {("token_hashed",), ("user",)} <= keys("tokens")
    assert mongo_db["users"].index_information()["username_1"]["unique"] is True


def test_openapi_and_metrics_blueprints_are_registered(app):
    assert {"flamenco_openapi", "flamenco_metrics"} <= set(app.blueprints)
    assert app.test_client().get("/api/openapi.json").status_code == 200


def test_oversized_body_is_413_in_error_shape(app, world):
    body = b"[" + b" " * app.config["MAX_CONTENT_LENGTH"] + b"]"
    resp = world.api("alice").post("/api/flamenco/jobs", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.get_json()["_code"] == 413
