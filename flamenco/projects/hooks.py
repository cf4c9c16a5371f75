"""Eve hooks of ``projects``: a caller sees only the projects it belongs to."""
from __future__ import annotations

import eve
import flask

from flamenco.auth import scoping
from flamenco.store import current_db


def project_filter() -> dict | None:
    """The query restricting ``projects`` to what the caller may see (None: all)."""
    user = scoping.require_user()
    db = current_db()
    if user.is_superuser:
        return None
    manager = scoping.manager_of(db, user)
    if manager is not None:
        return {"_id": {"$in": manager.get("projects") or []}}
    return {"members.user": user.user_id}


def on_pre_get(request: flask.Request, lookup: dict) -> None:
    scoping.restrict(lookup, project_filter())


def setup_app(app: eve.Eve) -> None:
    app.on_pre_GET_projects += on_pre_get
