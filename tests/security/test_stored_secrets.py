"""Tokens, passwords and worker secrets are stored only as hashes.

Each test creates a credential through the code that really issues it, then
searches every document of every collection for the plain text.
"""
from __future__ import annotations

import bcrypt
import flask
from pymongo.database import Database

from flamenco.auth import tokens
from flamenco_manager.context import ManagerContext
from tests.support.manager_client import ManagerClient
from tests.support.server import make_manager, make_token, make_user


def _database_text(db: Database) -> str:
    """Every document of every collection, as one searchable string."""
    return "\n".join(repr(doc) for name in db.list_collection_names() for doc in db[name].find())


def test_user_tokens_are_stored_as_sha256(mongo_db: Database) -> None:
    user = make_user(mongo_db, "hashed-token-user")
    plain = make_token(mongo_db, user)

    assert plain not in _database_text(mongo_db)
    stored = mongo_db["tokens"].find_one({"user": user["_id"]})
    assert stored["token_hashed"] == tokens.hash_token(plain)
    assert tokens.user_for_token(mongo_db, plain)["_id"] == user["_id"]


def test_manager_tokens_are_stored_hashed(mongo_db: Database) -> None:
    manager, plain = make_manager(mongo_db, name="Hashed Manager")

    assert plain not in _database_text(mongo_db)
    assert tokens.user_for_token(mongo_db, plain)["_id"] == manager["service_account"]


def test_passwords_are_stored_as_bcrypt(mongo_db: Database) -> None:
    password = "correct horse battery staple"
    user = make_user(mongo_db, "password-user", password=password)

    assert password not in _database_text(mongo_db)
    stored = mongo_db["users"].find_one({"_id": user["_id"]})["password_hash"]
    stored = stored.encode() if isinstance(stored, str) else stored
    assert bcrypt.checkpw(password.encode(), stored)


def test_api_never_returns_password_hashes_or_tokens(server_app: flask.Flask, mongo_db: Database) -> None:
    admin = make_user(mongo_db, "api-admin", roles=("admin",), password="admin password 123")
    token = make_token(mongo_db, admin)
    body = server_app.test_client().get("/api/users", headers={"Authorization": f"Bearer {token}"}).get_data(
        as_text=True)
    assert "api-admin" in body
    assert "password" not in body
    assert "token" not in body


def test_worker_secrets_are_stored_as_bcrypt(ctx: ManagerContext) -> None:
    secret = "w" * 32 + "0123456789abcdef0123456789abcdef"
    resp = ManagerClient(ctx).post("/register-worker", json={
        "secret": secret, "platform": "linux", "supported_task_types": ["sleep"], "nickname": "hashed"})
    assert resp.status_code == 200
    assert secret not in resp.get_data(as_text=True)

    assert secret not in _database_text(ctx.store.db)
    worker = ctx.store.db["workers"].find_one()
    assert bcrypt.checkpw(secret.encode(), worker["hashed_secret"])
