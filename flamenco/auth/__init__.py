"""Who is calling: token/session authentication and the current user.

Every request runs :func:`load_current_user` (a ``before_request`` hook): it
reads a token from ``Authorization: Bearer <token>`` or from HTTP Basic with
the token as username (what Flamenco 2 Managers send), or else the dashboard's
Flask-Login session, and stores a :class:`CurrentUser` in ``flask.g``.
Authorisation decisions live in the resource packages and in
``flamenco.projects``; this package only says who the caller is and what
capabilities their roles give.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses

import flask
import flask_login
from bson import ObjectId
from flask_wtf.csrf import CSRFError, CSRFProtect
from pymongo.database import Database

from flamenco import errors
from flamenco.auth import roles
from flamenco.auth.tokens import user_for_token
from flamenco.store import current_db
from flamenco.store.collections import TOKENS, USERS


@dataclasses.dataclass(frozen=True)
class CurrentUser:
    """The authenticated caller of this request."""

    user_id: ObjectId
    username: str
    roles: frozenset[str]
    capabilities: frozenset[str]
    doc: dict
    via_session: bool = False

    @classmethod
    def from_doc(cls, doc: dict, *, via_session: bool = False) -> "CurrentUser":
        user_roles = frozenset(doc.get("roles") or ())
        return cls(user_id=doc["_id"], username=doc.get("username", ""), roles=user_roles,
                   capabilities=roles.capabilities_for(user_roles), doc=doc,
                   via_session=via_session)

    def has_cap(self, *caps: str) -> bool:
        """True if the user has any of ``caps``."""
        return any(c in self.capabilities for c in caps)

    @property
    def is_superuser(self) -> bool:
        """Global admins see and change everything, regardless of project membership."""
        return roles.CAP_SUPERUSER in self.capabilities

    @property
    def is_manager(self) -> bool:
        """Manager service accounts are confined to their own Manager's data."""
        return roles.ROLE_MANAGER in self.roles and "flamenco_manager" in (self.doc.get("service") or {})

    @property
    def display_name(self) -> str:
        """'Full Name (@username)', as used in status reasons."""
        full = self.doc.get("full_name") or self.username
        return f"{full} (@{self.username})"


def token_from_request(request: flask.Request) -> str | None:
    """The token a request carries, as Bearer or as Basic username, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, _password = decoded.partition(":")
        return username or None
    return None


# User field counting the user's logouts: a session cookie carries the value
# it was issued under and stops working once it changes (see end_sessions).
SESSION_GENERATION_FIELD = "session_generation"


class SessionUser(flask_login.UserMixin):
    """What Flask-Login keeps in the dashboard session: ``<user id>:<session generation>``.

    The dashboard logs a user in with ``flask_login.login_user(SessionUser(doc))``.
    A signed cookie cannot be revoked by itself; carrying the generation makes
    :func:`end_sessions` (logout) invalidate every cookie issued before it
    (Flask-Login's "alternative tokens").
    """

    def __init__(self, doc: dict) -> None:
        self.doc = doc
        self.id = f"{doc['_id']}:{doc.get(SESSION_GENERATION_FIELD, 0)}"


def _load_session_user(session_id: str) -> SessionUser | None:
    # Sessions issued before generations existed carry the bare id: generation 0.
    user_id, _, generation = session_id.partition(":")
    generation = generation or "0"
    if not ObjectId.is_valid(user_id) or not generation.isdecimal():
        return None
    doc = current_db()[USERS].find_one({"_id": ObjectId(user_id)})
    if doc is None or doc.get(SESSION_GENERATION_FIELD, 0) != int(generation):
        return None
    return SessionUser(doc)


def end_sessions(db: Database, user_id: ObjectId) -> None:
    """Invalidate every dashboard session of the user (logout, everywhere)."""
    db[USERS].update_one({"_id": user_id}, {"$inc": {SESSION_GENERATION_FIELD: 1}})


# Methods that change state; session-authenticated ones need a CSRF token
# (the token-authenticated API is not exposed to cross-site requests).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def load_current_user() -> None:
    """``before_request`` hook: put the caller (or None) in ``g.current_user``."""
    flask.g.current_user = None
    token = token_from_request(flask.request)
    if token:
        doc = user_for_token(current_db(), token)
        if doc is not None:
            flask.g.current_user = CurrentUser.from_doc(doc)
        return
    session_user = flask_login.current_user
    if session_user and session_user.is_authenticated:
        if flask.request.method in UNSAFE_METHODS:
            flask.current_app.extensions["csrf"].protect()
        flask.g.current_user = CurrentUser.from_doc(session_user.doc, via_session=True)


def _csrf_failed(error: CSRFError) -> flask.Response:
    return errors.error_response(400, f"CSRF check failed: {error.description}")


def setup_app(app: flask.Flask) -> None:
    """Identify the caller on every request; sessions via Flask-Login; token indexes."""
    login_manager = flask_login.LoginManager()
    login_manager.user_loader(_load_session_user)
    login_manager.init_app(app)
    # CSRF is checked explicitly in load_current_user, for session requests only.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    CSRFProtect(app)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.before_request(load_current_user)
    with app.app_context():
        db = current_db()
        db[TOKENS].create_index([("token_hashed", 1)])
        db[TOKENS].create_index([("user", 1)])
        db[USERS].create_index([("username", 1)], unique=True)


def current_user() -> CurrentUser | None:
    """The caller of the current request, or None when anonymous."""
    return flask.g.get("current_user")
