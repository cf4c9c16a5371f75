"""User accounts: people (with a bcrypt password, optional) and Manager service accounts."""
from __future__ import annotations

import datetime
import functools
import secrets
import uuid
from typing import Iterable

import bcrypt
from bson import ObjectId
from pymongo.database import Database

from flamenco.auth import roles
from flamenco.clock import utcnow
from flamenco.store.collections import USERS

# bcrypt uses the first 72 bytes of a password; bcrypt 5 refuses longer ones.
BCRYPT_MAX_PASSWORD_BYTES = 72
# Fields that must never leave the server, whatever projection a client asks for.
SECRET_FIELDS = ("password_hash", "auth", "service")


class UserError(ValueError):
    """A user could not be created as asked."""


def stamp_new(doc: dict, now: datetime.datetime | None = None) -> dict:
    """Give a document inserted outside Eve the fields Eve would give it."""
    now = now or utcnow()
    doc.setdefault("_id", ObjectId())
    doc["_created"] = now
    doc["_updated"] = now
    doc["_etag"] = uuid.uuid4().hex
    return doc


def hash_password(password: str) -> str:
    """bcrypt hash of a password, as stored in ``users.password_hash``."""
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_PASSWORD_BYTES:
        raise UserError(f"password must be at most {BCRYPT_MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")
    return bcrypt.hashpw(encoded, bcrypt.gensalt()).decode("ascii")


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    """A hash of a random password, at the cost of real ones: checked when there is no real hash."""
    return bcrypt.hashpw(secrets.token_bytes(16).hex().encode("ascii"), bcrypt.gensalt())


def check_password(user: dict | None, password: str) -> bool:
    """True if ``password`` matches the user's stored hash.

    Always costs one bcrypt check: an unknown user (None), a service account
    without password and a too-long password are checked against a dummy
    hash, so the time of a failed login does not tell whether the username
    exists (19 ms against 529 ms before).
    """
    encoded = password.encode("utf-8")
    stored = (user or {}).get("password_hash")
    if not stored or len(encoded) > BCRYPT_MAX_PASSWORD_BYTES:
        bcrypt.checkpw(encoded[:BCRYPT_MAX_PASSWORD_BYTES], _dummy_hash())
        return False
    return bcrypt.checkpw(encoded, stored.encode("ascii"))


def create_user(db: Database, username: str, *, roles_: Iterable[str] = (roles.ROLE_USER,),
                password: str | None = None, full_name: str = "", email: str = "",
                service: dict | None = None) -> dict:
    """Insert a user and return its document (with ``password_hash`` if a password was given)."""
    role_list = sorted(set(roles_))
    unknown = [r for r in role_list if r not in roles.KNOWN_ROLES]
    if unknown:
        raise UserError(f"unknown role(s): {', '.join(unknown)}; known: {', '.join(sorted(roles.KNOWN_ROLES))}")
    if not username:
        raise UserError("username must not be empty")
    if db[USERS].find_one({"username": username}, {"_id": 1}):
        raise UserError(f"user {username!r} already exists")
    doc: dict = {"username": username, "full_name": full_name or username, "email": email,
                 "roles": role_list}
    if password is not None:
        doc["password_hash"] = hash_password(password)
    if service is not None:
        doc["service"] = service
    stamp_new(doc)
    db[USERS].insert_one(doc)
    return doc


def create_service_account(db: Database, name: str) -> dict:
    """A Manager's service account: roles ``flamenco_manager`` + ``service``, no password."""
    uid = ObjectId()
    return create_user(db, f"SRV-{uid}", roles_=(roles.ROLE_MANAGER, roles.ROLE_SERVICE),
                       full_name=name, service={"flamenco_manager": {}})
