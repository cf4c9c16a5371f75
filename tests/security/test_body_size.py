"""Request bodies are bounded: an oversized body is refused with 413 before it is parsed.

Without a bound, one request can make the server or manager read gigabytes
into memory (waitress accepts up to 1 GiB by default).
"""
from __future__ import annotations

import flask

from flamenco_manager.context import ManagerContext
from flamenco_manager.app import MAX_REQUEST_BYTES
from tests.support.manager_client import ManagerClient
from tests.support.server import make_token, make_user


def _oversized(limit: int | None) -> bytes:
    assert limit, "MAX_CONTENT_LENGTH is not set: any request body is read whole into memory"
    return b"[" + b" " * limit + b"]"


def test_server_refuses_oversized_bodies(server_app: flask.Flask, mongo_db) -> None:
    token = make_token(mongo_db, make_user(mongo_db, "big-body"))
    body = _oversized(server_app.config.get("MAX_CONTENT_LENGTH"))
    resp = server_app.test_client().post("/api/flamenco/jobs", data=body, content_type="application/json",
                                         headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 413
    assert resp.json["_code"] == 413


def test_manager_refuses_oversized_bodies(ctx: ManagerContext) -> None:
    body = _oversized(MAX_REQUEST_BYTES)
    resp = ManagerClient(ctx).post("/register-worker", data=body, content_type="application/json")
    assert resp.status_code == 413
