"""Query filters that confine a caller to what it may see.

Eve ``on_pre_GET`` hooks add these filters to the lookup, so listings never
contain foreign documents (and ``_meta`` stays right, unlike Flamenco 2's
after-the-fact filtering, reference §14.16), and item GETs of invisible
documents answer 404 without revealing that they exist.
"""
from __future__ import annotations

import flask
from pymongo.database import Database

from flamenco import errors, projects
from flamenco.auth import CurrentUser, current_user, roles
from flamenco.store.collections import MANAGERS


def require_user() -> CurrentUser:
    """The caller, or a 401 for anonymous requests."""
    user = current_user()
    if user is None:
        errors.abort(401, "authentication required: send a token as 'Authorization: Bearer <token>'",
                     headers={"WWW-Authenticate": 'Bearer realm="flamenco"'})
    return user


def require_cap(user: CurrentUser, cap: str) -> None:
    """403 unless ``user`` has capability ``cap``."""
    if not user.has_cap(cap):
        errors.abort(403, f"this action needs the {cap!r} capability")


def manager_of(db: Database, user: CurrentUser) -> dict | None:
    """The Manager whose service account ``user`` is (cached per request), or None."""
    if not user.is_manager:
        return None
    cache_key = "flamenco_manager_doc"
    if cache_key not in flask.g:
        flask.g.flamenco_manager_doc = db[MANAGERS].find_one({"service_account": user.user_id})
    return flask.g.flamenco_manager_doc


def restrict(lookup: dict, extra: dict | None) -> None:
    """AND ``extra`` into an Eve lookup in place (no-op for None)."""
    if not extra:
        return
    if any(key in lookup for key in extra):
        original = dict(lookup)
        lookup.clear()
        lookup["$and"] = [original, extra]
    else:
        lookup.update(extra)


def project_scoped_filter(db: Database, user: CurrentUser, *, manager_field: str = "manager") -> dict | None:
    """Filter for documents carrying ``project`` and ``manager`` fields (jobs, tasks).

    Superusers: everything. A Manager: only its own documents. Others: the
    projects they are a member of, if they have ``flamenco-view``.
    """
    if user.is_superuser:
        return None
    manager = manager_of(db, user)
    if user.is_manager:
        return {manager_field: manager["_id"] if manager else None}
    require_cap(user, roles.CAP_VIEW)
    return {"project": {"$in": projects.visible_project_ids(db, user) or []}}
