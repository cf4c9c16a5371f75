"""Eve hooks of ``projects``: a caller sees only the projects it belongs to."""
from __future__ import annotations

import flask

from flamenco.auth import scoping
from flamenco.auth import current_user


def project_filter() -> dict | None:
    """The query restricting ``projects`` to what the caller may see (None: all)."""
    user = current_user()
    db = flask.current_app.data.driver.db
    if user.is_superuser:
        return None
    manager = scoping.manager_of(db, user)
    if manager is not None:
        return {"_id": {"$in": manager.get("projects") or []}}
    return {"members.user": user.user_id}


def on_pre_get(request: flask.Request, lookup: dict) -> None:
    scoping.restrict(lookup, project_filter())


def setup_app(app: flask.Flask) -> None:
    app.on_pre_GET_projects += on_pre_get
