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
