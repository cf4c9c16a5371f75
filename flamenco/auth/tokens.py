"""Authentication tokens: generated once, stored only as a SHA-256 hash.

Flamenco 2 stored service tokens in plain text and valid for ~100 years
(reference v2-server.md §14.6). Here the plain token is returned exactly once
by :func:`generate_token`; the database keeps ``token_hashed`` only, so a
leaked database dump does not leak usable credentials.
"""
from __future__ import annotations

import datetime
import hashlib
import secrets

from bson import ObjectId
from pymongo.database import Database

from flamenco import clock, defaults
from flamenco.store.collections import TOKENS, USERS


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a plain token; what the ``tokens`` collection stores.

    A plain hash (not bcrypt) is enough because tokens carry 256 bits of
    randomness, and it keeps lookup a single indexed equality query.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token(db: Database, user_id: ObjectId, *, prefix: str = "",
                   days: float = defaults.TOKEN_EXPIRY_DAYS) -> str:
    """Create a token for ``user_id`` and return it in plain text (the only time it exists)."""
    token = prefix + secrets.token_urlsafe(defaults.TOKEN_RANDOM_BYTES)
    now = clock.utcnow()
    db[TOKENS].insert_one({
        "user": ObjectId(user_id),
        "token_hashed": hash_token(token),
        "expire_time": now + datetime.timedelta(days=days),
        "created": now,
    })
    return token


def token_doc(db: Database, token: str) -> dict | None:
    """The unexpired ``tokens`` document of a plain token, or None."""
    if not token:
        return None
    doc = db[TOKENS].find_one({"token_hashed": hash_token(token)})
    if doc is None:
        return None
    expire = doc.get("expire_time")
    if expire is not None:
        if clock.as_utc(expire) <= clock.utcnow():
            return None
    return doc


def user_for_token(db: Database, token: str) -> dict | None:
    """The user document a valid, unexpired token belongs to, or None."""
    doc = token_doc(db, token)
    if doc is None:
        return None
    return db[USERS].find_one({"_id": doc["user"]})


def revoke_tokens(db: Database, user_id: ObjectId) -> int:
    """Delete every token of a user (e.g. before issuing a Manager a fresh one)."""
    return db[TOKENS].delete_many({"user": ObjectId(user_id)}).deleted_count
